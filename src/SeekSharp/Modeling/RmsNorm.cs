using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using SeekSharp.Native;

namespace SeekSharp.Modeling;

/// <summary>
/// Root-mean-square layer norm, computed in fp32. Every norm feeds a matmul, so it returns the model's
/// compute dtype (<see cref="OutputType"/>): the cast happens once here instead of in each projection.
/// </summary>
public sealed class RmsNorm : nn.Module<Tensor, Tensor>
{
    public readonly Parameter weight;
    readonly double eps;

    /// <summary>Dtype of the result; set with the model's compute dtype.</summary>
    public ScalarType OutputType { get; set; } = ScalarType.Float32;

    public RmsNorm(int dim, double eps, string name = "norm") : base(name)
    {
        this.eps = eps;
        weight = new Parameter(ones(dim));
        RegisterComponents();
    }

    internal double Eps => eps;

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var xf = x.to_type(ScalarType.Float32);
        var y = xf * rsqrt(xf.square().mean([-1], keepdim: true).add(Scalars.Of(eps), Scalars.One)) * weight.to_type(ScalarType.Float32);
        return y.to_type(OutputType).MoveToOuterDisposeScope();
    }
}
