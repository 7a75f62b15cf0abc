using System.Text.Json;
using SeekSharp.Checkpoints;
using SeekSharp.IO;
using SeekSharp.Modeling;
using SeekSharp.Tokenization;
using static TorchSharp.torch;

namespace SeekSharp.Export;

// A SeekSharp model folder as llama.cpp's `deepseek2` architecture (MLA + DeepSeekMoE), read from
// llama.cpp's own loader and converter (src/models/deepseek2.cpp, conversion/deepseek.py, of the version
// node-llama-cpp 3.21.1 bundles). What an exact conversion needs, and why:
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
// - Tied embeddings: no `output` tensor (llama.cpp then reuses token_embd). Norms, the router and other
//   1-D tensors stay F32, as llama.cpp's converter keeps them.
// - Vocabulary: tokenizer.ggml.model "gpt2" (byte-level BPE) with our tokens and merges, pre-tokenizer
//   "dbrx" (llama.cpp's GPT-4-style split, the same regex as ours), special tokens as CONTROL, padded to
//   vocab_size with UNUSED tokens, and no BOS added (we add <|bos|> ourselves).

/// <summary>Writes a model folder as a GGUF file for llama.cpp.</summary>
public static class GgufExport
{
    /// <summary>Tensor storage types a user may ask for.</summary>
    public static readonly IReadOnlyList<string> Types = ["f16", "f32"];

    public sealed record Result(string Path, int Tensors, long Bytes, string Type);

    /// <summary>Exports <paramref name="modelDir"/> to <paramref name="outPath"/>; checks everything before writing.</summary>
    public static Result Run(string modelDir, string outPath, string type = "f16")
    {
        if (!Types.Contains(type))
            throw new SeekSharpException($"--type: expected one of {string.Join(", ", Types)}, found '{type}' (q8_0 and q4_0 are not implemented yet).");
        if (!Directory.Exists(modelDir)) throw new SeekSharpException($"{modelDir}: model folder not found.");
        var cfgPath = Path.Combine(modelDir, ModelFiles.ConfigFile);
        var cfg = ModelConfig.Load(cfgPath);
        CheckRepresentable(cfg, cfgPath);
        var tok = BpeTokenizer.Load(modelDir);
        if (tok.VocabSize > cfg.VocabSize)
            throw new SeekSharpException($"{cfgPath}: field 'vocab_size' is {cfg.VocabSize}, but the tokenizer has {tok.VocabSize} tokens.");
        var merges = ReadMerges(Path.Combine(modelDir, "tokenizer.json"));

        var w = new GgufWriter();
        WriteMetadata(w, cfg, type, Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(modelDir))));
        WriteVocabulary(w, tok, merges, cfg.VocabSize);
        using (var model = ModelFiles.Load(modelDir))
            WriteTensors(w, model, type == "f16" ? GgufWriter.TensorType.F16 : GgufWriter.TensorType.F32);
        w.Write(outPath);
        return new Result(outPath, w.TensorCount, new FileInfo(outPath).Length, type);
    }

    /// <summary>Refuses, naming the field, what llama.cpp's deepseek2 loader cannot represent.</summary>
    public static void CheckRepresentable(ModelConfig cfg, string source)
    {
        if (!cfg.IsMla)
            throw new SeekSharpException($"{source}: field 'attention_type' is \"{cfg.AttentionType}\": only \"mla\" exports to llama.cpp's deepseek2; not yet: export as llama/glm4moe is planned.");
        if (cfg.NRoutedExperts > 0 && cfg.NSharedExperts == 0)
            throw new SeekSharpException($"{source}: field 'n_shared_experts' is 0: llama.cpp's deepseek2 requires a shared expert in every MoE layer.");
        if (cfg.NRoutedExperts > 0 && cfg.MoeLayerFreq != 1)
            throw new SeekSharpException($"{source}: field 'moe_layer_freq' is {cfg.MoeLayerFreq}: llama.cpp's deepseek2 makes every layer after the leading dense ones MoE (expected 1).");
        // llama.cpp takes 26- and 27-layer models for DeepSeek-V2-Lite and then never reads q_lora_rank.
        if ((cfg.NumHiddenLayers is 26 or 27 || (cfg.NumHiddenLayers == 48 && cfg.VocabSize == 128256)) && cfg.QLoraRank > 0)
            throw new SeekSharpException($"{source}: field 'q_lora_rank' is {cfg.QLoraRank} with {cfg.NumHiddenLayers} layers: llama.cpp's deepseek2 treats this depth as DeepSeek-V2-Lite and ignores the query compression (expected 0, or another depth).");
    }

    static void WriteMetadata(GgufWriter w, ModelConfig cfg, string type, string name)
    {
        const string a = "deepseek2";
        bool moe = cfg.NRoutedExperts > 0;
        w.AddString("general.architecture", a);
        w.AddString("general.name", name);
        w.AddUInt32("general.file_type", type == "f16" ? 1u : 0u); // LLAMA_FTYPE_MOSTLY_F16 / ALL_F32
        w.AddUInt32($"{a}.vocab_size", (uint)cfg.VocabSize);
        w.AddUInt32($"{a}.context_length", (uint)cfg.MaxPositionEmbeddings);
        w.AddUInt32($"{a}.embedding_length", (uint)cfg.HiddenSize);
        w.AddUInt32($"{a}.block_count", (uint)cfg.NumHiddenLayers);
        w.AddUInt32($"{a}.feed_forward_length", (uint)cfg.IntermediateSize);
        w.AddUInt32($"{a}.attention.head_count", (uint)cfg.NumAttentionHeads);
        w.AddUInt32($"{a}.attention.head_count_kv", 1); // the absorbed MLA is one latent "head" shared by all
        w.AddFloat32($"{a}.rope.freq_base", (float)cfg.RopeTheta);
        w.AddUInt32($"{a}.rope.dimension_count", (uint)cfg.QkRopeHeadDim);
        w.AddFloat32($"{a}.attention.layer_norm_rms_epsilon", (float)cfg.RmsNormEps);
        w.AddUInt32($"{a}.leading_dense_block_count", (uint)(moe ? cfg.FirstKDenseReplace : cfg.NumHiddenLayers));
        w.AddUInt32($"{a}.attention.q_lora_rank", (uint)cfg.QLoraRank);
        w.AddUInt32($"{a}.attention.kv_lora_rank", (uint)cfg.KvLoraRank);
        w.AddUInt32($"{a}.attention.key_length", (uint)(cfg.KvLoraRank + cfg.QkRopeHeadDim));
        w.AddUInt32($"{a}.attention.value_length", (uint)cfg.KvLoraRank);
        w.AddUInt32($"{a}.attention.key_length_mla", (uint)cfg.QkHeadDim);
        w.AddUInt32($"{a}.attention.value_length_mla", (uint)cfg.VHeadDim);
        w.AddUInt32($"{a}.expert_feed_forward_length", (uint)(moe ? cfg.MoeIntermediateSize : cfg.IntermediateSize));
        w.AddUInt32($"{a}.expert_shared_count", (uint)(moe ? cfg.NSharedExperts : 0));
        if (moe)
        {
            w.AddUInt32($"{a}.expert_count", (uint)cfg.NRoutedExperts);
            w.AddUInt32($"{a}.expert_used_count", (uint)cfg.NumExpertsPerTok);
            w.AddFloat32($"{a}.expert_weights_scale", (float)cfg.RoutedScalingFactor);
            w.AddBool($"{a}.expert_weights_norm", cfg.NormTopkProb);
            w.AddUInt32($"{a}.expert_gating_func", cfg.ScoringFunc == "sigmoid" ? 2u : 1u); // LLAMA_EXPERT_GATING_FUNC_TYPE_*
        }
    }

    const int TypeNormal = 1, TypeControl = 3, TypeUnused = 5; // llama_token_type

    static void WriteVocabulary(GgufWriter w, BpeTokenizer tok, IReadOnlyList<string> merges, int vocabSize)
    {
        var tokens = new string[vocabSize];
        var types = new int[vocabSize];
        for (int id = 0; id < vocabSize; id++)
        {
            if (id < tok.VocabSize) { tokens[id] = tok.IdToToken(id); types[id] = tok.IsSpecial(id) ? TypeControl : TypeNormal; }
            else { tokens[id] = $"[PAD{id}]"; types[id] = TypeUnused; }
        }
        w.AddString("tokenizer.ggml.model", "gpt2");
        w.AddString("tokenizer.ggml.pre", "dbrx");
        w.AddStrings("tokenizer.ggml.tokens", tokens);
        w.AddInt32s("tokenizer.ggml.token_type", types);
        w.AddStrings("tokenizer.ggml.merges", merges);
        w.AddUInt32("tokenizer.ggml.bos_token_id", (uint)tok.BosId);
        w.AddUInt32("tokenizer.ggml.eos_token_id", (uint)tok.EosId);
        w.AddUInt32("tokenizer.ggml.padding_token_id", (uint)tok.PadId);
        w.AddBool("tokenizer.ggml.add_bos_token", false);
        w.AddBool("tokenizer.ggml.add_eos_token", false);
        w.AddString("tokenizer.chat_template", ChatTemplate.Jinja);
    }

    /// <summary>The merge rules of a tokenizer.json, in rank order, as "left right" (the form GGUF stores).</summary>
    static List<string> ReadMerges(string path)
    {
        var bytes = CheckedFile.ReadAllBytes(path, "tokenizer not found (expected tokenizer.json).", CheckedFile.MaxTokenizerBytes);
        try
        {
            using var doc = JsonDocument.Parse(bytes);
            var list = new List<string>();
            foreach (var m in doc.RootElement.GetProperty("model").GetProperty("merges").EnumerateArray())
                list.Add(m.ValueKind == JsonValueKind.Array ? $"{m[0].GetString()} {m[1].GetString()}" : m.GetString()!);
            return list;
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or IndexOutOfRangeException)
        {
            throw new SeekSharpException($"{path}: field 'model.merges' is unreadable: {e.Message}");
        }
    }

    static void WriteTensors(GgufWriter w, Transformer model, GgufWriter.TensorType matrixType)
    {
        var cfg = model.Config;
        var state = model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);
        var used = new HashSet<string>(StringComparer.Ordinal);
        Tensor Take(string name)
        {
            if (!state.TryGetValue(name, out var t)) throw new InvalidOperationException($"model has no tensor '{name}'.");
            used.Add(name);
            return t;
        }
        void Put(string name, Tensor t, bool matrix)
        {
            using var host = t.detach().to_type(ScalarType.Float32).cpu().contiguous();
            var values = host.data<float>().ToArray();
            var type = matrix ? matrixType : GgufWriter.TensorType.F32;
            if (type == GgufWriter.TensorType.F16)
                foreach (var v in values)
                    if (Math.Abs(v) > 65504f) throw new SeekSharpException($"tensor '{name}' holds {v}, beyond f16's range (±65504): export with --type f32.");
            w.AddTensor(name, host.shape, type, type == GgufWriter.TensorType.F16 ? GgufWriter.F16Bytes(values) : GgufWriter.F32Bytes(values));
        }

        using var _ = no_grad();
        using var scope = NewDisposeScope();
        Put("token_embd.weight", Take("model.embed_tokens.weight"), matrix: true);
        Put("output_norm.weight", Take("model.norm.weight"), matrix: false);
        if (!cfg.TieWordEmbeddings) Put("output.weight", Take("lm_head.weight"), matrix: true);

        int heads = cfg.NumAttentionHeads, nope = cfg.QkNopeHeadDim, rope = cfg.QkRopeHeadDim, v = cfg.VHeadDim, rank = cfg.KvLoraRank;
        var qRows = RopeRowOrder(heads, nope + rope, nope, rope);
        var kvRows = RopeRowOrder(1, rank + rope, rank, rope);
        for (int i = 0; i < cfg.NumHiddenLayers; i++)
        {
            string p = $"model.layers.{i}.", b = $"blk.{i}.";
            Put(b + "attn_norm.weight", Take(p + "input_layernorm.weight"), false);
            Put(b + "ffn_norm.weight", Take(p + "post_attention_layernorm.weight"), false);
            if (cfg.QLoraRank == 0) Put(b + "attn_q.weight", Take(p + "self_attn.q_proj.weight").index_select(0, qRows), true);
            else
            {
                Put(b + "attn_q_a.weight", Take(p + "self_attn.q_a_proj.weight"), true);
                Put(b + "attn_q_a_norm.weight", Take(p + "self_attn.q_a_layernorm.weight"), false);
                Put(b + "attn_q_b.weight", Take(p + "self_attn.q_b_proj.weight").index_select(0, qRows), true);
            }
            Put(b + "attn_kv_a_mqa.weight", Take(p + "self_attn.kv_a_proj_with_mqa.weight").index_select(0, kvRows), true);
            Put(b + "attn_kv_a_norm.weight", Take(p + "self_attn.kv_a_layernorm.weight"), false);
            var kvB = Take(p + "self_attn.kv_b_proj.weight").view(heads, nope + v, rank);
            Put(b + "attn_k_b.weight", kvB.narrow(1, 0, nope).transpose(1, 2), true);    // (H, rank, nope)
            Put(b + "attn_v_b.weight", kvB.narrow(1, nope, v), true);                     // (H, v, rank)
            Put(b + "attn_output.weight", Take(p + "self_attn.o_proj.weight"), true);

            if (!cfg.IsMoeLayer(i))
            {
                foreach (var (ours, theirs) in Projections) Put($"{b}ffn_{theirs}.weight", Take($"{p}mlp.{ours}_proj.weight"), true);
                continue;
            }
            Put(b + "ffn_gate_inp.weight", Take(p + "mlp.gate.weight"), false);          // the router stays F32
            var bias = Take(p + "mlp.gate.e_score_correction_bias");
            if (cfg.TopkMethod == "noaux_tc") Put(b + "exp_probs_b.bias", bias, false);
            foreach (var (ours, theirs) in Projections)
            {
                var stacked = stack(Enumerable.Range(0, cfg.NRoutedExperts).Select(e => Take($"{p}mlp.experts.{e}.{ours}_proj.weight")).ToArray(), 0);
                Put($"{b}ffn_{theirs}_exps.weight", stacked, true);                      // (E, out, in)
                Put($"{b}ffn_{theirs}_shexp.weight", Take($"{p}mlp.shared_experts.{ours}_proj.weight"), true);
            }
        }
        var left = state.Keys.Where(k => !used.Contains(k)).ToList();
        if (left.Count > 0) throw new InvalidOperationException($"GGUF export has no place for tensor '{left[0]}' (and {left.Count - 1} more).");
    }

    static readonly (string Ours, string Theirs)[] Projections = [("gate", "gate"), ("up", "up"), ("down", "down")];

    /// <summary>Row order that turns rotate-half rope rows into adjacent pairs: in each of <paramref name="blocks"/>
    /// blocks of <paramref name="blockRows"/> rows, the rope rows at <paramref name="ropeStart"/> go from
    /// (x0..x(d/2-1), y0..y(d/2-1)) to (x0, y0, x1, y1, ...); the other rows keep their place.</summary>
    internal static Tensor RopeRowOrder(int blocks, int blockRows, int ropeStart, int ropeDim)
    {
        var order = new long[blocks * blockRows];
        for (int h = 0; h < blocks; h++)
        {
            long @base = (long)h * blockRows;
            for (int r = 0; r < blockRows; r++) order[@base + r] = @base + r;
            for (int k = 0; k < ropeDim / 2; k++)
            {
                order[@base + ropeStart + 2 * k] = @base + ropeStart + k;
                order[@base + ropeStart + 2 * k + 1] = @base + ropeStart + ropeDim / 2 + k;
            }
        }
        return tensor(order, ScalarType.Int64);
    }
}
