using SeekSharp.Kernels;
using static TorchSharp.torch;

namespace SeekSharp.Tests.Kernels;

/// <summary>The one-memcpy host copy the decode loops use instead of TorchSharp's element-wise accessors.</summary>
public class TensorPointerTests
{
    [Fact]
    public void FloatsCopiesViewsAndOtherDtypesAsFp32InLogicalOrder()
    {
        using var scope = NewDisposeScope();
        var t = arange(24, ScalarType.Float32).view(2, 3, 4);
        var view = t.transpose(1, 2).narrow(2, 1, 2).to_type(ScalarType.BFloat16);    // (2, 4, 2), not contiguous
        var expected = view.to_type(ScalarType.Float32).contiguous().data<float>().ToArray();
        Assert.Equal(expected, TensorPointer.Floats(view));
        var dst = new float[30];
        TensorPointer.CopyFloats(t.select(0, 1), dst.AsSpan(5, 12));
        Assert.Equal(Enumerable.Range(12, 12).Select(i => (float)i), dst.Skip(5).Take(12));
        Assert.All(dst.Take(5).Concat(dst.Skip(17)), v => Assert.Equal(0f, v));
        Assert.Throws<ArgumentException>(() => TensorPointer.CopyFloats(t, new float[23]));
    }
}
