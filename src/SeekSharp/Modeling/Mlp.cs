using TorchSharp;
using static TorchSharp.torch;

namespace SeekSharp.Modeling;

/// <summary>SwiGLU feed-forward: down(silu(gate(x)) * up(x)). Used as the dense FFN and as each expert.</summary>
public sealed class Mlp : nn.Module<Tensor, Tensor>
{
    readonly Linear gate_proj, up_proj, down_proj;

    public Mlp(int dim, int hidden, string name = "mlp") : base(name)
    {
        gate_proj = new Linear(dim, hidden);
        up_proj = new Linear(dim, hidden);
        down_proj = new Linear(hidden, dim);
        RegisterComponents();
    }

    /// <param name="x">(N, D) or (B, T, D).</param>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        return down_proj.forward(nn.functional.silu(gate_proj.forward(x)) * up_proj.forward(x)).MoveToOuterDisposeScope();
    }
}
