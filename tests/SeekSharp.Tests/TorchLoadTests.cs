using TorchSharp;
using static TorchSharp.torch;

namespace SeekSharp.Tests;

/// <summary>Proves the native libtorch loads here (the build's GLIBCXX weak-version fix) and does real work.</summary>
public class TorchLoadTests
{
    [Fact]
    public void MatmulAutogradAndBf16Work()
    {
        using var scope = NewDisposeScope();
        var a = randn(8, 8, requires_grad: true);
        var b = eye(8);
        var y = a.matmul(b).sum();
        y.backward();
        Assert.Equal(64, a.grad!.sum().item<float>(), 3);
        var h = ones(4, 4, dtype: bfloat16).matmul(ones(4, 4, dtype: bfloat16));
        Assert.Equal(4f, h.to_type(float32)[0, 0].item<float>());
    }
}
