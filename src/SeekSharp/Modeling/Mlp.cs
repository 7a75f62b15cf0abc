using TorchSharp;
using static TorchSharp.torch;
using SeekSharp.Compression;
using SeekSharp.Kernels;

namespace SeekSharp.Modeling;

/// <summary>SwiGLU feed-forward: down(silu(gate(x)) * up(x)). Used as the dense FFN and as each expert.</summary>
public sealed partial class Mlp : nn.Module<Tensor, Tensor>
{
    readonly Linear gate_proj, up_proj, down_proj;

    public Mlp(int dim, int hidden, string name = "mlp") : base(name)
    {
        gate_proj = new Linear(dim, hidden);
        up_proj = new Linear(dim, hidden);
        down_proj = new Linear(hidden, dim);
        RegisterComponents();
    }

    Tensor? frozenGateUp; // the fused gate/up weight, kept while frozen for inference
    QuantizedWeight? frozenGateUpQ; // the same for q8_0/q4_0 projections: their blocks stacked, rows as stored

    public Linear GateProj => gate_proj;
    public Linear UpProj => up_proj;
    public Linear DownProj => down_proj;
    public ScalarType ComputeType => gate_proj.ComputeType;

    /// <param name="x">(N, D) or (B, T, D).</param>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        // gate and up run as one matmul against their concatenated weights: one bigger GEMM forward and
        // backward instead of two (the weights stay separate, named as Hugging Face names them). FP8 training keeps
        // two: each weight's 128x128 blocks are its own (gate's last block would otherwise take rows of up).
        var gu = frozenGateUpQ is not null ? frozenGateUpQ.Linear(x.to_type(ComputeType))
            : (gate_proj.Quantized is not null || gate_proj.Fp8) && frozenGateUp is null ? cat([gate_proj.forward(x), up_proj.forward(x)], -1)
            : frozenGateUp is not null ? Bf16Gemm.Linear(x.to_type(ComputeType), frozenGateUp)
            : nn.functional.linear(x.to_type(ComputeType), cat([gate_proj.ComputeWeight(), up_proj.ComputeWeight()], 0)); // (2I, D)
        var halves = gu.chunk(2, -1);
        return down_proj.forward(nn.functional.silu(halves[0]) * halves[1]).MoveToOuterDisposeScope();
    }

    /// <summary>Freezes the projections and keeps their fused gate/up weight (see <see cref="Linear.Freeze"/>). Quantized
    /// q8_0/q4_0 projections fuse their stored blocks instead, and then hold views of the fused bytes (not a second
    /// copy); fp8 ones, or any with an adapter, stay two matmuls on their own weights.</summary>
    public void Freeze()
    {
        if (frozenGateUp is not null || frozenGateUpQ is not null) return;
        using var _ = no_grad();
        foreach (var l in new[] { gate_proj, up_proj, down_proj }) l.Freeze();
        if (gate_proj.Quantized is { } g && up_proj.Quantized is { } u)
        {
            if (g.Type == QuantType.Fp8 || g.Type != u.Type || gate_proj.Adapter is not null || up_proj.Adapter is not null) return;
            frozenGateUpQ = QuantizedWeight.ConcatRows([g, u]);
            gate_proj.SetQuantized(frozenGateUpQ.NarrowRows(0, g.OutFeatures));
            up_proj.SetQuantized(frozenGateUpQ.NarrowRows(g.OutFeatures, u.OutFeatures));
            return;
        }
        using var scope = NewDisposeScope();
        frozenGateUp = cat([gate_proj.ComputeWeight(), up_proj.ComputeWeight()], 0).DetachFromDisposeScope();
        // gate and up then read their rows of the fused copy (contiguous views) instead of holding copies of their own.
        gate_proj.ShareFrozen(frozenGateUp.narrow(0, 0, gate_proj.OutFeatures));
        up_proj.ShareFrozen(frozenGateUp.narrow(0, gate_proj.OutFeatures, up_proj.OutFeatures));
    }

    public void Unfreeze()
    {
        foreach (var l in new[] { gate_proj, up_proj, down_proj }) l.Unfreeze();
        frozenGateUp?.Dispose();
        frozenGateUp = null;
        frozenGateUpQ?.Dispose(); // the projections keep their views of the bytes
        frozenGateUpQ = null;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) Unfreeze();
        base.Dispose(disposing);
    }
}
