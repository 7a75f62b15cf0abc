using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SeekSharp.Modeling;

// The one precision seam. TorchSharp has no autocast, so every matmul of the model goes through this
// Linear: weights stay in their storage dtype (fp32 masters while training), and the input and weight
// are cast to ComputeType for the matmul. Autograd sees the casts, so gradients land on the fp32
// master in fp32. Everything numerically sensitive (norms, router, softmax, loss) runs in fp32 outside
// this seam. FP8 block-scaled numerics will plug in here.

/// <summary>y = x Wᵀ without bias; the matmul runs in <see cref="ComputeType"/>.</summary>
public sealed class Linear : nn.Module<Tensor, Tensor>
{
    public readonly Parameter weight;

    Tensor? frozen; // the weight already cast to ComputeType, while frozen for inference
    ScalarType computeType = ScalarType.Float32;

    /// <summary>Dtype the matmul runs in (fp32, or bf16 for the fast path on AVX-512 BF16 CPUs). Setting it unfreezes.</summary>
    public ScalarType ComputeType
    {
        get => computeType;
        set { Unfreeze(); computeType = value; }
    }

    public int InFeatures { get; }
    public int OutFeatures { get; }

    public Linear(int inFeatures, int outFeatures, string name = "linear") : base(name)
    {
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        weight = new Parameter(normal(0, 0.02, [outFeatures, inFeatures]));
        RegisterComponents();
    }

    /// <param name="x">(..., in) in any float dtype; result (..., out) in ComputeType.</param>
    public override Tensor forward(Tensor x)
    {
        using var w = ComputeWeight();
        return nn.functional.linear(Cast(x), w);
    }

    /// <summary>The weight as the matmul sees it (used by MLA's absorbed decoding and the fused SwiGLU).</summary>
    public Tensor ComputeWeight() => frozen?.alias() ?? Cast(weight);

    /// <summary>Keeps the cast weight from now on instead of casting on every call. For inference only: the
    /// weight must not change until <see cref="Unfreeze"/> (a decode step of a small batch otherwise spends
    /// much of its time converting fp32 masters to bf16).</summary>
    public void Freeze()
    {
        if (frozen is not null) return;
        using var _ = no_grad();
        frozen = Cast(weight).detach().DetachFromDisposeScope();
    }

    public void Unfreeze()
    {
        frozen?.Dispose();
        frozen = null;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) Unfreeze();
        base.Dispose(disposing);
    }

    Tensor Cast(Tensor t) => t.dtype == ComputeType ? t.alias() : t.to_type(ComputeType);
}
