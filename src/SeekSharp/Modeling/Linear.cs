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

    /// <summary>Dtype the matmul runs in (fp32, or bf16 for the fast path on AVX-512 BF16 CPUs).</summary>
    public ScalarType ComputeType { get; set; } = ScalarType.Float32;

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
    public override Tensor forward(Tensor x) =>
        nn.functional.linear(Cast(x), Cast(weight));

    /// <summary>The weight as the matmul sees it (used by MLA's absorbed decoding).</summary>
    public Tensor ComputeWeight() => Cast(weight);

    Tensor Cast(Tensor t) => t.dtype == ComputeType ? t.alias() : t.to_type(ComputeType);
}
