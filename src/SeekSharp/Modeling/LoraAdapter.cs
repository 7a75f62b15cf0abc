using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using SeekSharp.Native;

namespace SeekSharp.Modeling;

// A low-rank update ΔW = (alpha/r)·B·A of one Linear (LoRA, Hu et al. 2021). B starts at zero, so a freshly
// attached adapter leaves the model's function unchanged; A starts small and random (uniform ±1/√in, the
// spread of PyTorch's default Linear init that PEFT uses), so B's first gradients are not zero. The
// adapter is a parameterization, not a training concern: the model runs the same with or without one,
// and merging folds ΔW into the weight. Which Linears get adapters, and freezing, are decided outside.

/// <summary>LoRA factors A (r, in) and B (out, r) with scale alpha/r.</summary>
public sealed class LoraAdapter : nn.Module
{
    public readonly Parameter lora_A;   // (r, in)
    public readonly Parameter lora_B;   // (out, r)

    public int Rank { get; }
    public double Scale { get; }

    public LoraAdapter(int inFeatures, int outFeatures, int rank, double alpha, Generator? generator = null, Device? device = null) : base("lora")
    {
        if (rank <= 0) throw new SeekSharpException($"lora rank must be positive, got {rank}.");
        Rank = rank;
        Scale = alpha / rank;
        double bound = 1.0 / Math.Sqrt(inFeatures);
        lora_A = new Parameter(Scalars.Uniform(-bound, bound, [rank, inFeatures], generator).to(device ?? CPU));
        lora_B = new Parameter(zeros([outFeatures, rank], device: device ?? CPU));
        RegisterComponents();
    }

    /// <summary>scale·(x Aᵀ) Bᵀ in <paramref name="dtype"/>: the adapter's share of the output without forming ΔW.</summary>
    /// <param name="x">(..., in), already in <paramref name="dtype"/>.</param>
    public Tensor Delta(Tensor x, ScalarType dtype)
    {
        using var scope = NewDisposeScope();
        var h = nn.functional.linear(x, lora_A.to_type(dtype));              // (..., r)
        return (nn.functional.linear(h, lora_B.to_type(dtype)) * Scalars.Of(Scale)).MoveToOuterDisposeScope();
    }

    /// <summary>ΔW = scale·B·A, (out, in) fp32.</summary>
    public Tensor DeltaWeight() => lora_B.matmul(lora_A).mul_(Scalars.Of(Scale));
}
