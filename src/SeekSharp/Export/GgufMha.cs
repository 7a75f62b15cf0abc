using SeekSharp.Modeling;
using static TorchSharp.torch;

namespace SeekSharp.Export;

// Multi-head-attention models (attention_type "mha") as the llama.cpp architecture that computes exactly
// what they compute, read from llama.cpp's loaders (src/models/llama.cpp, glm4-moe.cpp; llama-model.cpp's
// rope types) of the version node-llama-cpp 3.21.1 bundles:
// - dense -> `llama`. Its rope is LLAMA_ROPE_TYPE_NORM (adjacent pairs 2i, 2i+1), ours rotate-half, so the
//   rows of q_proj and k_proj are permuted per head into pair order, as convert_hf_to_gguf.py's
//   LlamaModel.permute does for Hugging Face Llama weights; both sides of every q·k move together.
//   llama requires rope.dimension_count == key_length (the whole head rotates, as ours does).
// - MoE -> `glm4moe`: sigmoid router with exp_probs_b (the correction bias; required there, so a router
//   without one gets zeros, which select the same experts), shared experts, leading dense layers, and
//   LLAMA_ROPE_TYPE_NEOX, which is rotate-half already: no permutation. Its post-attention norm is named
//   post_attention_norm, not ffn_norm. The graph always adds the shared expert, so it must exist.
// Neither has an MLA-specific key; the head size is explicit (key_length = value_length = qk_rope_head_dim).

/// <summary>The llama and glm4moe mappings: refusals, metadata and tensors.</summary>
internal static class GgufMha
{
    public const string Llama = "llama", Glm4Moe = "glm4moe";

    public static string ArchitectureOf(ModelConfig cfg) => cfg.NRoutedExperts > 0 ? Glm4Moe : Llama;

    public static void CheckRepresentable(ModelConfig cfg, string source)
    {
        if (cfg.NRoutedExperts == 0) return;
        if (cfg.NSharedExperts == 0)
            throw new SeekSharpException($"{source}: field 'n_shared_experts' is 0: llama.cpp's glm4moe (the architecture of an MHA + MoE model) always adds a shared expert in every MoE layer.");
        if (cfg.MoeLayerFreq != 1)
            throw new SeekSharpException($"{source}: field 'moe_layer_freq' is {cfg.MoeLayerFreq}: llama.cpp's glm4moe makes every layer after the leading dense ones MoE (expected 1).");
    }

    public static void WriteMetadata(GgufWriter w, ModelConfig cfg)
    {
        var a = ArchitectureOf(cfg);
        int head = cfg.QkRopeHeadDim;
        w.AddUInt32($"{a}.attention.head_count_kv", (uint)cfg.NumKeyValueHeads);
        w.AddUInt32($"{a}.attention.key_length", (uint)head);
        w.AddUInt32($"{a}.attention.value_length", (uint)head);
        w.AddUInt32($"{a}.rope.dimension_count", (uint)head);
        if (a == Glm4Moe) GgufExport.WriteMoeMetadata(w, a, cfg);
    }

    public static void WriteTensors(GgufTensors g, ModelConfig cfg)
    {
        bool llama = ArchitectureOf(cfg) == Llama;
        int heads = cfg.NumAttentionHeads, head = cfg.QkRopeHeadDim;
        var rows = GgufExport.RopeRowOrder(heads, head, 0, head);
        Tensor Rope(Tensor w) => llama ? w.index_select(0, rows) : w;
        for (int i = 0; i < cfg.NumHiddenLayers; i++)
        {
            string p = $"model.layers.{i}.", b = $"blk.{i}.";
            g.Put(b + "attn_norm.weight", g.Take(p + "input_layernorm.weight"), false);
            g.Put(b + (llama ? "ffn_norm.weight" : "post_attention_norm.weight"), g.Take(p + "post_attention_layernorm.weight"), false);
            g.Put(b + "attn_q.weight", Rope(g.Take(p + "self_attn.q_proj.weight")), true);
            g.Put(b + "attn_k.weight", Rope(g.Take(p + "self_attn.k_proj.weight")), true);
            g.Put(b + "attn_v.weight", g.Take(p + "self_attn.v_proj.weight"), true);
            g.Put(b + "attn_output.weight", g.Take(p + "self_attn.o_proj.weight"), true);
            GgufExport.WriteFeedForward(g, cfg, i, biasRequired: true);
        }
    }
}
