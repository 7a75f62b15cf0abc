using SeekSharp.Modeling;
using Linear = SeekSharp.Modeling.Linear;
using Transformer = SeekSharp.Modeling.Transformer;

namespace SeekSharp.Training;

// What a trainer's `precision` does to a model. bf16 and fp32 only set the matmul dtype. fp8 also sets bf16 (masters,
// AdamW state and working copies as in bf16 training) and turns on FP8 numerics (Linear.Fp8) in every projection of the
// blocks: attention, MLA's low-rank pairs, dense, shared and routed experts. lm_head stays bf16, as DeepSeek-V3 keeps the
// output head (and embeddings, norms, the router's fp32 Gate, attention's softmax: none of them is a Linear) in higher
// precision (report §3.3.1).

/// <summary>Applies a training precision ("bf16", "fp32", "fp8") to a model.</summary>
public static class TrainingPrecision
{
    /// <summary>The accepted names.</summary>
    public static readonly string[] Names = ["bf16", "fp32", "fp8"];

    /// <summary>Sets the matmul dtype and, for "fp8", FP8 numerics on every Linear but lm_head (and clears them otherwise).</summary>
    public static Transformer Apply(Transformer model, string precision)
    {
        model.SetComputeType(Transformer.ComputeTypeOf(precision));
        foreach (var (name, module) in model.named_modules())
            if (module is Linear l) l.Fp8 = precision == "fp8" && name != "lm_head";
        return model;
    }

    /// <summary>The Linears training in FP8 (tests, reports).</summary>
    public static int Fp8Count(Transformer model) => model.modules().OfType<Linear>().Count(l => l.Fp8);
}
