using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using SeekSharp.Native;

namespace SeekSharp.Modeling;

// The one precision seam. TorchSharp has no autocast, so every matmul of the model goes through this
// Linear: weights stay in their storage dtype (fp32 masters while training), and the input and weight
// are cast to ComputeType for the matmul. Autograd sees the casts, so gradients land on the fp32
// master in fp32. Everything numerically sensitive (norms, router, softmax, loss) runs in fp32 outside
// this seam. FP8 block-scaled numerics will plug in here. An optional LoRA adapter adds its low-rank
// update here too: factored in forward (x Wᵀ + s·(x Aᵀ)Bᵀ, so a frozen W needs no weight gradient), folded
// into ComputeWeight for the callers that use the weight itself (MLP's fused gate/up, MLA's absorbed
// decoding). The adapter is not a registered submodule: the model's state_dict stays the base weights,
// and adapters are saved on their own (Alignment/Lora).

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

    LoraAdapter? adapter;

    /// <summary>The low-rank adapter applied on top of the weight, or null.</summary>
    public LoraAdapter? Adapter
    {
        get => adapter;
        set
        {
            if (value is not null && (value.lora_A.shape[1] != InFeatures || value.lora_B.shape[0] != OutFeatures))
                throw new ArgumentException($"adapter shape ({value.lora_B.shape[0]}x{value.lora_A.shape[1]}) does not fit a {OutFeatures}x{InFeatures} Linear");
            Unfreeze();
            adapter = value;
        }
    }

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
        if (frozen is not null) return nn.functional.linear(Cast(x), frozen);
        if (adapter is null) return nn.functional.linear(Cast(x), Cast(weight));
        using var scope = NewDisposeScope();
        var cx = Cast(x);
        return nn.functional.linear(cx, Cast(weight)).add(adapter.Delta(cx, ComputeType), Scalars.One).MoveToOuterDisposeScope();
    }

    /// <summary>The weight as the matmul sees it, adapter included (used by the fused MLP and MLA's absorbed decoding).</summary>
    public Tensor ComputeWeight()
    {
        if (frozen is not null) return frozen.alias();
        if (adapter is null) return Cast(weight);
        using var scope = NewDisposeScope();
        return Cast(weight + adapter.DeltaWeight()).MoveToOuterDisposeScope();
    }

    /// <summary>Folds the adapter into the weight (W += ΔW, fp32) and drops it.</summary>
    public void MergeAdapter()
    {
        if (adapter is null) return;
        Unfreeze();
        using (no_grad())
        using (var delta = adapter.DeltaWeight())
            weight.add_(delta);
        adapter.Dispose();
        adapter = null;
    }

    /// <summary>Keeps the cast weight (adapter folded in) from now on instead of casting on every call. For
    /// inference only: the weight must not change until <see cref="Unfreeze"/> (a decode step of a small batch
    /// otherwise spends much of its time converting fp32 masters to bf16).</summary>
    public void Freeze()
    {
        if (frozen is not null) return;
        using var _ = no_grad();
        frozen = ComputeWeight().detach().DetachFromDisposeScope();
    }

    public void Unfreeze()
    {
        frozen?.Dispose();
        frozen = null;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) { Unfreeze(); adapter?.Dispose(); }
        base.Dispose(disposing);
    }

    Tensor Cast(Tensor t) => t.dtype == ComputeType ? t.alias() : t.to_type(ComputeType);
}
