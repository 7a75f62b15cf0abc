using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using SeekSharp.Native;
using SeekSharp.Compression;
using SeekSharp.Kernels;

namespace SeekSharp.Modeling;

// The one precision seam. TorchSharp has no autocast, so every matmul of the model goes through this
// Linear: weights stay in their storage dtype (fp32 masters while training), and the input and weight
// are cast to ComputeType for the matmul. Autograd sees the casts, so gradients land on the fp32
// master in fp32. Everything numerically sensitive (norms, router, softmax, loss) runs in fp32 outside
// this seam. With Fp8 set (training with `--precision fp8`), the product x Wᵀ runs through Fp8Linear instead: DeepSeek-V3's
// E4M3 tile-scaled operands in the forward and both backward matmuls (docs/decisions/0020). An optional LoRA adapter adds its low-rank
// update here too: factored in forward (x Wᵀ + s·(x Aᵀ)Bᵀ, so a frozen W needs no weight gradient), folded
// into ComputeWeight for the callers that use the weight itself (MLP's fused gate/up, MLA's absorbed
// decoding). The adapter is not a registered submodule: the model's state_dict stays the base weights,
// and adapters are saved on their own (Alignment/Lora).
// A quantized folder's Linears hold a QuantizedWeight (Compression/, docs/decisions/0015) instead of the fp32
// master, whose storage is released: that is the memory a quantized model saves. The matmul then runs on the
// stored bytes; the adapter still factors on top (QLoRA: the base stays quantized, only A and B train).
// A trainer may hand a Linear a working copy of its weight in ComputeType (Training/FlatParameters): the matmul
// then reads that copy instead of casting the master on every forward, and the gradient lands on the copy (the
// trainer moves it to the master, in fp32, as the cast's backward would). The trainer keeps the copy current.

/// <summary>y = x Wᵀ without bias; the matmul runs in <see cref="ComputeType"/>.</summary>
public sealed class Linear : nn.Module<Tensor, Tensor>
{
    public readonly Parameter weight; // empty while Quantized holds the weight

    Tensor? frozen; // the weight already cast to ComputeType, while frozen for inference
    ScalarType computeType = ScalarType.Float32;

    /// <summary>Dtype the matmul runs in (fp32, or bf16 for the fast path on AVX-512 BF16 CPUs). Setting it unfreezes.</summary>
    public ScalarType ComputeType
    {
        get => computeType;
        set { Unfreeze(); computeType = value; }
    }

    /// <summary>A copy of the weight in <see cref="ComputeType"/> that the trainer keeps equal to the master, read by
    /// forward and <see cref="ComputeWeight"/> instead of casting (null: cast every call). Ignored in another dtype.</summary>
    public Tensor? Working { get; set; }

    bool fp8;

    /// <summary>Whether x Wᵀ runs with FP8 training numerics (<see cref="Fp8Linear"/>; a LoRA adapter's own product stays in
    /// ComputeType). Ignored for a quantized weight and while frozen. Setting it unfreezes.</summary>
    public bool Fp8
    {
        get => fp8;
        set { Unfreeze(); fp8 = value; }
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

    /// <summary>Set while a Transformer is built only to be loaded: the weight is allocated but not initialized (the
    /// loader overwrites or releases it, and untouched pages never become resident).</summary>
    [ThreadStatic] internal static bool Uninitialized;

    public Linear(int inFeatures, int outFeatures, string name = "linear") : base(name)
    {
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        weight = new Parameter(Uninitialized ? empty([outFeatures, inFeatures]) : Scalars.Normal(0, 0.02, [outFeatures, inFeatures]));
        RegisterComponents();
    }

    QuantizedWeight? quantized;

    /// <summary>The stored quantized weight, or null for a full-precision Linear.</summary>
    public QuantizedWeight? Quantized => quantized;

    /// <summary>Keep this weight dequantized in ComputeType while frozen (MLA's kv_b_proj, used as a matrix every step).</summary>
    public bool DequantizeWhenFrozen { get; set; }

    /// <summary>Holds <paramref name="q"/> as the weight from now on and releases the fp32 master's storage.</summary>
    public void SetQuantized(QuantizedWeight q)
    {
        if (q.OutFeatures != OutFeatures || q.InFeatures != InFeatures)
            throw new ArgumentException($"a {q.OutFeatures}x{q.InFeatures} quantized weight does not fit a {OutFeatures}x{InFeatures} Linear");
        Unfreeze();
        if (!ReferenceEquals(quantized, q)) quantized?.Dispose();
        quantized = q;
        using var _ = no_grad();
        weight.requires_grad = false;
        // In a variable, not inline: an unreferenced temporary can be finalized while set_ still reads it (a segfault
        // loading fp8 folders, about one load in ten; Native/Finite.cs).
        using var none = empty(0, dtype: weight.dtype, device: weight.device);
        weight.set_(none);
    }

    /// <summary>Turns a quantized weight back into an fp32 master holding its decoded values (for a writer that reads the
    /// state_dict, such as the GGUF export); no effect on a full-precision Linear.</summary>
    public void Dequantize()
    {
        if (quantized is null) return;
        Unfreeze();
        using var _ = no_grad();
        using (var scope = NewDisposeScope()) // the chain's temporaries live until set_ is done (see SetQuantized)
            weight.set_(quantized.Dequantize(ScalarType.Float32).to(weight.device).contiguous().clone());
        quantized.Dispose();
        quantized = null;
    }

    /// <param name="x">(..., in) in any float dtype; result (..., out) in ComputeType.</param>
    public override Tensor forward(Tensor x)
    {
        if (frozen is not null) return Bf16Gemm.Linear(Cast(x), frozen);
        if (adapter is null)
            return quantized is not null ? quantized.Linear(Cast(x)) : fp8 ? Fp8Linear.Forward(Cast(x), CastWeight()) : nn.functional.linear(Cast(x), CastWeight());
        using var scope = NewDisposeScope();
        var cx = Cast(x);
        var y = quantized is not null ? quantized.Linear(cx) : fp8 ? Fp8Linear.Forward(cx, Cast(weight)) : nn.functional.linear(cx, Cast(weight));
        return y.add(adapter.Delta(cx, ComputeType), Scalars.One).MoveToOuterDisposeScope();
    }

    /// <summary>The weight as the matmul sees it, adapter included (used by the fused MLP and MLA's absorbed decoding).
    /// A quantized weight is dequantized for the call.</summary>
    public Tensor ComputeWeight()
    {
        if (frozen is not null) return frozen.alias();
        if (quantized is not null && adapter is null) return quantized.Dequantize(ComputeType);
        if (adapter is null) return CastWeight();
        using var scope = NewDisposeScope();
        var w = quantized?.Dequantize(ScalarType.Float32) ?? weight;
        return Cast(w + adapter.DeltaWeight()).MoveToOuterDisposeScope();
    }

    /// <summary>Folds the adapter into the weight (W += ΔW, fp32) and drops it. A quantized weight is re-quantized in
    /// its own format, Q(deq(W) + ΔW): this one weight is dequantized for the merge, never the model.</summary>
    public void MergeAdapter()
    {
        if (adapter is null) return;
        Unfreeze();
        if (quantized is not null) SetQuantized(MergedQuantized());
        else
            using (no_grad())
            using (var delta = adapter.DeltaWeight())
                weight.add_(delta);
        adapter.Dispose();
        adapter = null;
    }

    /// <summary>Q(deq(W) + ΔW) in the stored format: what a merge stores for a quantized Linear with an adapter.</summary>
    public QuantizedWeight MergedQuantized()
    {
        if (quantized is null || adapter is null) throw new InvalidOperationException("MergedQuantized needs a quantized weight with an adapter");
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var merged = quantized.Dequantize(ScalarType.Float32).cpu().add_(adapter.DeltaWeight().cpu());
        var q = QuantizedWeight.Quantize(merged, quantized.Type);
        q.Data.DetachFromDisposeScope();
        q.ScaleInv?.DetachFromDisposeScope();
        return q;
    }

    /// <summary>Keeps the cast weight (adapter folded in) from now on instead of casting on every call. For
    /// inference only: the weight must not change until <see cref="Unfreeze"/> (a decode step of a small batch
    /// otherwise spends much of its time converting fp32 masters to bf16).</summary>
    /// <remarks>A quantized weight stays quantized (its matmul reads the stored bytes), unless <see cref="DequantizeWhenFrozen"/>;
    /// with an adapter it stays factored.</remarks>
    public void Freeze()
    {
        if (frozen is not null) return;
        if (quantized is not null && (adapter is not null || !DequantizeWhenFrozen)) return;
        using var _ = no_grad();
        using var scope = NewDisposeScope(); // keeps the cast's temporaries alive while detach reads them (Native/Finite.cs)
        frozen = ComputeWeight().detach().DetachFromDisposeScope();
    }

    /// <summary>For a model that will only be served (<see cref="Transformer.ReleaseMasters"/>): drops the fp32 master once
    /// nothing reads it, because the frozen copy in another dtype is what every forward reads, or (<paramref name="readElsewhere"/>)
    /// because the owner holds the weight in a copy of its own (an MoE's stacked experts). Returns the bytes released.
    /// An fp32 frozen weight may be the master itself, and a quantized or adapted one has no separate copy: those stay.</summary>
    internal long ReleaseMaster(bool readElsewhere = false)
    {
        if (quantized is not null || adapter is not null || weight.numel() == 0) return 0;
        if (!readElsewhere && (frozen is null || frozen.dtype == weight.dtype)) return 0;
        long bytes = weight.numel() * weight.ElementSize;
        using var _ = no_grad();
        weight.requires_grad = false;
        using var none = empty(0, dtype: weight.dtype, device: weight.device); // in a variable: see SetQuantized
        weight.set_(none);
        return bytes;
    }

    /// <summary>While frozen, reads <paramref name="view"/> (the same values, in a copy its owner keeps: an MLP's fused
    /// gate/up weight) instead of a frozen copy of its own, which is released.</summary>
    internal void ShareFrozen(Tensor view)
    {
        if (frozen is null) { view.Dispose(); return; }
        frozen.Dispose();
        frozen = view.DetachFromDisposeScope();
    }

    public void Unfreeze()
    {
        frozen?.Dispose();
        frozen = null;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) { Unfreeze(); adapter?.Dispose(); quantized?.Dispose(); }
        base.Dispose(disposing);
    }

    /// <summary>The frozen bf16 weight (N, K) as the fused decode path reads it, or null when this Linear cannot be read
    /// that way: not frozen, another dtype, quantized or factored, or K not a multiple of 32.</summary>
    internal Tensor? FusedWeight =>
        frozen is { } f && f.dtype == ScalarType.BFloat16 && f.device_type == DeviceType.CPU && f.is_contiguous() && InFeatures % 32 == 0 ? f : null;

    /// <summary>This Linear's weight for the fused decode path: its frozen bf16 weight, or its q8_0/q4_0 blocks or fp8 codes
    /// (no adapter); null when the fused path cannot read it (fp32, an adapter on a quantized weight, K not a multiple of 32).</summary>
    internal unsafe WeightRef? FusedRef
    {
        get
        {
            if (FusedWeight is { } f) return WeightRef.Bf16(TensorPointer.Of<ushort>(f), InFeatures, OutFeatures, InFeatures);
            if (frozen is not null || adapter is not null || quantized is not { } q || q.Data.device_type != DeviceType.CPU
                || q.Data.stride(1) != 1 || InFeatures % 32 != 0) return null;
            if (q.Type != QuantType.Fp8) return WeightRef.Blocks(TensorPointer.Of<byte>(q.Data), q.Data.stride(0), q.Block, OutFeatures, InFeatures);
            if (q.ScaleInv is { } s && s.dtype == ScalarType.Float32 && s.stride(1) == 1)
                return WeightRef.Fp8(TensorPointer.Of<byte>(q.Data), q.Data.stride(0), TensorPointer.Of<float>(s), s.stride(0), OutFeatures, InFeatures);
            return null;
        }
    }

    /// <summary>y (m × out) = x · Wᵀ for m rows of x, in natural order (<paramref name="x"/>) and in Bf16Gemm's kernel
    /// order (<paramref name="xk"/>): the fused decode path's projection through this Linear.</summary>
    internal unsafe void ForwardFused(float* x, float* xk, int m, float* y)
    {
        FusedRef!.Value.Gemm(x, xk, m, y, OutFeatures);
        GC.KeepAlive(frozen); GC.KeepAlive(quantized);
    }

    Tensor Cast(Tensor t) => t.dtype == ComputeType ? t.alias() : t.to_type(ComputeType);

    Tensor CastWeight() => Working is { } w && w.dtype == ComputeType ? w.alias() : Cast(weight);
}
