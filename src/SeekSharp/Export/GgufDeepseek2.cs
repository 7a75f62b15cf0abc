using SeekSharp.Modeling;
using static TorchSharp.torch;

namespace SeekSharp.Export;

// MLA models as llama.cpp's `deepseek2` architecture (MLA + DeepSeekMoE), read from llama.cpp's own loader
// and converter (src/models/deepseek2.cpp, conversion/deepseek.py, of the version node-llama-cpp 3.21.1
// bundles). What an exact conversion needs, and why:
// - Rotary layout. We rotate halves (pair i = dims i and i + d/2); deepseek2 rotates adjacent pairs
//   (LLAMA_ROPE_TYPE_NORM: dims 2i and 2i+1) with the same frequencies. Permuting the output rows of the
//   rope part of the query projection and of k_pe (kv_a_proj_with_mqa's last rope rows) into pair order
//   makes the two identical: the permutation is applied to both sides of every q·k dot product.
// - MLA's kv_b_proj (H·(nope+v), rank) is split per head into attn_k_b (H, rank, nope: transposed) and
//   attn_v_b (H, v, rank): llama.cpp always runs the absorbed form, as an MQA over the latent.
// - Experts are stacked into ffn_{gate,up,down}_exps (E, out, in); the correction bias is exp_probs_b.bias.
// - Keys llama.cpp reads silently with a default must be explicit: expert_gating_func (missing means
//   softmax), expert_weights_norm, expert_weights_scale; expert_shared_count, expert_feed_forward_length
//   and q_lora_rank (0: no query compression) are required. head_count_kv is 1 and key/value_length are
//   the latent's (rank + rope, rank); key/value_length_mla are the per-head sizes.

/// <summary>The deepseek2 mapping: refusals, metadata and tensors.</summary>
internal static class GgufDeepseek2
{
    public const string Name = "deepseek2";

    public static void CheckRepresentable(ModelConfig cfg, string source)
    {
        if (cfg.NRoutedExperts > 0 && cfg.NSharedExperts == 0)
            throw new SeekSharpException($"{source}: field 'n_shared_experts' is 0: llama.cpp's deepseek2 requires a shared expert in every MoE layer.");
        if (cfg.NRoutedExperts > 0 && cfg.MoeLayerFreq != 1)
            throw new SeekSharpException($"{source}: field 'moe_layer_freq' is {cfg.MoeLayerFreq}: llama.cpp's deepseek2 makes every layer after the leading dense ones MoE (expected 1).");
        // llama.cpp takes 26- and 27-layer models for DeepSeek-V2-Lite and then never reads q_lora_rank.
        if ((cfg.NumHiddenLayers is 26 or 27 || (cfg.NumHiddenLayers == 48 && cfg.VocabSize == 128256)) && cfg.QLoraRank > 0)
            throw new SeekSharpException($"{source}: field 'q_lora_rank' is {cfg.QLoraRank} with {cfg.NumHiddenLayers} layers: llama.cpp's deepseek2 treats this depth as DeepSeek-V2-Lite and ignores the query compression (expected 0, or another depth).");
    }

    public static void WriteMetadata(GgufWriter w, ModelConfig cfg)
    {
        const string a = Name;
        w.AddUInt32($"{a}.attention.head_count_kv", 1); // the absorbed MLA is one latent "head" shared by all
        w.AddUInt32($"{a}.rope.dimension_count", (uint)cfg.QkRopeHeadDim);
        w.AddUInt32($"{a}.attention.q_lora_rank", (uint)cfg.QLoraRank);
        w.AddUInt32($"{a}.attention.kv_lora_rank", (uint)cfg.KvLoraRank);
        w.AddUInt32($"{a}.attention.key_length", (uint)(cfg.KvLoraRank + cfg.QkRopeHeadDim));
        w.AddUInt32($"{a}.attention.value_length", (uint)cfg.KvLoraRank);
        w.AddUInt32($"{a}.attention.key_length_mla", (uint)cfg.QkHeadDim);
        w.AddUInt32($"{a}.attention.value_length_mla", (uint)cfg.VHeadDim);
        GgufExport.WriteMoeMetadata(w, a, cfg);
    }

    public static void WriteTensors(GgufTensors g, ModelConfig cfg)
    {
        int heads = cfg.NumAttentionHeads, nope = cfg.QkNopeHeadDim, rope = cfg.QkRopeHeadDim, v = cfg.VHeadDim, rank = cfg.KvLoraRank;
        var qRows = GgufExport.RopeRowOrder(heads, nope + rope, nope, rope);
        var kvRows = GgufExport.RopeRowOrder(1, rank + rope, rank, rope);
        for (int i = 0; i < cfg.NumHiddenLayers; i++)
        {
            string p = $"model.layers.{i}.", b = $"blk.{i}.";
            g.Put(b + "attn_norm.weight", g.Take(p + "input_layernorm.weight"), false);
            g.Put(b + "ffn_norm.weight", g.Take(p + "post_attention_layernorm.weight"), false);
            if (cfg.QLoraRank == 0) g.Put(b + "attn_q.weight", g.Take(p + "self_attn.q_proj.weight").index_select(0, qRows), true);
            else
            {
                g.Put(b + "attn_q_a.weight", g.Take(p + "self_attn.q_a_proj.weight"), true);
                g.Put(b + "attn_q_a_norm.weight", g.Take(p + "self_attn.q_a_layernorm.weight"), false);
                g.Put(b + "attn_q_b.weight", g.Take(p + "self_attn.q_b_proj.weight").index_select(0, qRows), true);
            }
            g.Put(b + "attn_kv_a_mqa.weight", g.Take(p + "self_attn.kv_a_proj_with_mqa.weight").index_select(0, kvRows), true);
            g.Put(b + "attn_kv_a_norm.weight", g.Take(p + "self_attn.kv_a_layernorm.weight"), false);
            var kvB = g.Take(p + "self_attn.kv_b_proj.weight").view(heads, nope + v, rank);
            g.Put(b + "attn_k_b.weight", kvB.narrow(1, 0, nope).transpose(1, 2), true);    // (H, rank, nope)
            g.Put(b + "attn_v_b.weight", kvB.narrow(1, nope, v), true);                     // (H, v, rank)
            g.Put(b + "attn_output.weight", g.Take(p + "self_attn.o_proj.weight"), true);
            GgufExport.WriteFeedForward(g, cfg, i, biasRequired: false);
        }
    }
}
