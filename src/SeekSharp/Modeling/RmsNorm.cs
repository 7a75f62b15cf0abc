using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SeekSharp.Modeling;

/// <summary>Root-mean-square layer norm. Computed in fp32, returned in the input's dtype.</summary>
public sealed class RmsNorm : nn.Module<Tensor, Tensor>
{
    public readonly Parameter weight;
    readonly double eps;

    public RmsNorm(int dim, double eps, string name = "norm") : base(name)
    {
        this.eps = eps;
        weight = new Parameter(ones(dim));
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var xf = x.to_type(ScalarType.Float32);
        var y = xf * rsqrt(xf.pow(2).mean([-1], keepdim: true) + eps) * weight.to_type(ScalarType.Float32);
        return y.to_type(x.dtype).MoveToOuterDisposeScope();
    }
}
