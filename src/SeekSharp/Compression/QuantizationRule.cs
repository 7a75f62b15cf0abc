namespace SeekSharp.Compression;

// THE rule of which tensors a quantized folder stores quantized (docs/decisions/0015), in one place for
// `seek quantize`, the loader's checks and the printed table:
//   quantized: the 2-D weights of the attention projections and of every feed-forward (dense MLP, shared and
//              routed experts): the matmuls that hold nearly all parameters and bytes;
//   kept as stored (fp32/bf16): the embeddings (also the output head when tied) and an untied lm_head (a lookup
//              and the logits, where llama.cpp too keeps more bits), every norm, the router's gate weight and its
//              e_score_correction_bias (routing decides which experts run at all; a few thousand values);
//   kept because the format cannot hold it: for q8_0/q4_0 a weight whose K (in features) is not a multiple of 32,
//              since a block never straddles rows. FP8 holds every shape (partial 128x128 blocks at the edges get
//              their own scale, as DeepSeek-V3's kv_a_proj_with_mqa [576, 7168] does).
// MLA's kv_b_proj is stored quantized like the others; the engine keeps that one weight dequantized in the
// compute dtype while frozen (Linear.DequantizeWhenFrozen), since the absorbed decode path uses it as a matrix.

/// <summary>What a tensor is, for the rule and for the bytes table.</summary>
public enum TensorKind { Attention, DenseMlp, RoutedExperts, SharedExperts, Embeddings, Norms, Router, Head, Other }

/// <summary>Which tensors are quantized, and why the others are not.</summary>
public static class QuantizationRule
{
    /// <summary>The kind of a Hugging Face-named tensor (model.layers.N.self_attn.*, .mlp.experts.E.*, ...).</summary>
    public static TensorKind KindOf(string name)
    {
        if (name.EndsWith("norm.weight", StringComparison.Ordinal)) return TensorKind.Norms;
        if (name == "model.embed_tokens.weight") return TensorKind.Embeddings;
        if (name.StartsWith("lm_head.", StringComparison.Ordinal)) return TensorKind.Head;
        if (name.Contains(".mlp.gate.", StringComparison.Ordinal)) return TensorKind.Router;
        if (name.Contains(".mlp.experts.", StringComparison.Ordinal)) return TensorKind.RoutedExperts;
        if (name.Contains(".mlp.shared_experts.", StringComparison.Ordinal)) return TensorKind.SharedExperts;
        if (name.Contains(".self_attn.", StringComparison.Ordinal)) return TensorKind.Attention;
        if (name.Contains(".mlp.", StringComparison.Ordinal)) return TensorKind.DenseMlp;
        return TensorKind.Other;
    }

    /// <summary>Null when the weight <paramref name="name"/> of <paramref name="shape"/> is stored in <paramref name="type"/>;
    /// otherwise why it stays in full precision.</summary>
    public static string? WhyKept(string name, IReadOnlyList<long> shape, QuantType type)
    {
        var kind = KindOf(name);
        if (kind is TensorKind.Embeddings or TensorKind.Head) return "embeddings and output head stay full precision";
        if (kind is TensorKind.Norms) return "norms stay full precision";
        if (kind is TensorKind.Router) return "the router (gate and correction bias) stays full precision";
        if (kind is TensorKind.Other || !name.EndsWith(".weight", StringComparison.Ordinal) || shape.Count != 2) return "not a projection weight";
        if (type != QuantType.Fp8 && shape[1] % QuantizationConfig.GroupSize != 0)
            return $"in features {shape[1]} is not a multiple of the {QuantizationConfig.GroupSize}-wide block";
        return null;
    }

    /// <summary>The table's label for a kind.</summary>
    public static string Label(TensorKind kind) => kind switch
    {
        TensorKind.Attention => "attention",
        TensorKind.DenseMlp => "dense MLP",
        TensorKind.RoutedExperts => "routed experts",
        TensorKind.SharedExperts => "shared experts",
        TensorKind.Embeddings => "embeddings",
        TensorKind.Norms => "norms",
        TensorKind.Router => "router",
        TensorKind.Head => "head",
        _ => "other",
    };
}
