using System.Text.Json;
using SeekSharp.Checkpoints;
using SeekSharp.IO;
using SeekSharp.Modeling;
using SeekSharp.Tokenization;
using static TorchSharp.torch;

namespace SeekSharp.Export;

// A SeekSharp model folder as a GGUF file for llama.cpp, in the llama.cpp architecture that computes the
// same model: MLA models as `deepseek2` (GgufDeepseek2.cs), dense MHA models as `llama` and MHA + MoE as
// `glm4moe` (GgufMha.cs). What all three share, here:
// - Tied embeddings: no `output` tensor (llama.cpp then reuses token_embd). Norms, the router and other
//   1-D tensors stay F32, as llama.cpp's converter keeps them (GgufTensors).
// - Experts stacked into ffn_{gate,up,down}_exps (E, out, in), the correction bias as exp_probs_b.bias, the
//   shared experts as ffn_*_shexp, and every MoE key explicit: expert_gating_func (missing means softmax in
//   deepseek2), expert_weights_norm, expert_weights_scale, expert_shared_count, expert_feed_forward_length.
// - Vocabulary: tokenizer.ggml.model "gpt2" (byte-level BPE) with our tokens and merges, pre-tokenizer
//   "dbrx" (llama.cpp's GPT-4-style split, the same regex as ours), special tokens as CONTROL, padded to
//   vocab_size with UNUSED tokens, and no BOS added (we add <|bos|> ourselves).

/// <summary>Writes a model folder as a GGUF file for llama.cpp.</summary>
public static class GgufExport
{
    /// <summary>Tensor storage types a user may ask for.</summary>
    public static readonly IReadOnlyList<string> Types = ["f16", "f32", "q8_0", "q4_0"];

    static GgufWriter.TensorType MatrixType(string type) => type switch
    {
        "f32" => GgufWriter.TensorType.F32,
        "q8_0" => GgufWriter.TensorType.Q8_0,
        "q4_0" => GgufWriter.TensorType.Q4_0,
        _ => GgufWriter.TensorType.F16,
    };

    /// <param name="DroppedMtpLayers">MTP modules not written: the file holds the main model's layers only.</param>
    public sealed record Result(string Path, int Tensors, long Bytes, string Type, string Architecture, int DroppedMtpLayers = 0);

    /// <summary>The llama.cpp architecture a config exports as.</summary>
    public static string ArchitectureOf(ModelConfig cfg) => cfg.IsMla ? GgufDeepseek2.Name : GgufMha.ArchitectureOf(cfg);

    /// <summary>Exports <paramref name="modelDir"/> to <paramref name="outPath"/>; checks everything before writing.</summary>
    public static Result Run(string modelDir, string outPath, string type = "f16")
    {
        if (!Types.Contains(type))
            throw new SeekSharpException($"--type: expected one of {string.Join(", ", Types)}, found '{type}'.");
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
        {
            // A quantized folder is written from its decoded values. Re-encoding decoded q8_0/q4_0 blocks in the same type
            // gives the same blocks (a test checks the GGUF files of an MHA model are identical); only MLA's attn_k_b, blocked
            // along nope after its transpose where the folder blocks kv_b_proj along the rank, is rounded a second time.
            model.Dequantize();
            WriteTensors(w, model, MatrixType(type));
        }
        w.Write(outPath);
        // MTP modules (layers num_hidden_layers..) are dropped, knowingly: WriteTensors walks the main layers only, and
        // block_count is num_hidden_layers, since llama.cpp's deepseek2 and llama run no MTP layer. Decision 0021.
        return new Result(outPath, w.TensorCount, new FileInfo(outPath).Length, type, ArchitectureOf(cfg), cfg.NumNextnPredictLayers);
    }

    /// <summary>Refuses, naming the field, what the llama.cpp architecture of <paramref name="cfg"/> cannot represent.</summary>
    public static void CheckRepresentable(ModelConfig cfg, string source)
    {
        if (cfg.IsMla) GgufDeepseek2.CheckRepresentable(cfg, source);
        else GgufMha.CheckRepresentable(cfg, source);
    }

    /// <summary>The keys every architecture reads, then the architecture's own.</summary>
    static void WriteMetadata(GgufWriter w, ModelConfig cfg, string type, string name)
    {
        var a = ArchitectureOf(cfg);
        w.AddString("general.architecture", a);
        w.AddString("general.name", name);
        // llama_ftype: ALL_F32 0, MOSTLY_F16 1, MOSTLY_Q4_0 2, MOSTLY_Q8_0 7 (what the file mostly holds).
        w.AddUInt32("general.file_type", type switch { "f16" => 1u, "q4_0" => 2u, "q8_0" => 7u, _ => 0u });
        w.AddUInt32($"{a}.vocab_size", (uint)cfg.VocabSize);
        w.AddUInt32($"{a}.context_length", (uint)cfg.MaxPositionEmbeddings);
        w.AddUInt32($"{a}.embedding_length", (uint)cfg.HiddenSize);
        w.AddUInt32($"{a}.block_count", (uint)cfg.NumHiddenLayers);
        w.AddUInt32($"{a}.feed_forward_length", (uint)cfg.IntermediateSize);
        w.AddUInt32($"{a}.attention.head_count", (uint)cfg.NumAttentionHeads);
        w.AddFloat32($"{a}.rope.freq_base", (float)cfg.RopeTheta);
        w.AddFloat32($"{a}.attention.layer_norm_rms_epsilon", (float)cfg.RmsNormEps);
        if (cfg.IsMla) GgufDeepseek2.WriteMetadata(w, cfg);
        else GgufMha.WriteMetadata(w, cfg);
    }

    /// <summary>The DeepSeekMoE keys of deepseek2 and glm4moe (the same names and meanings in both loaders).</summary>
    internal static void WriteMoeMetadata(GgufWriter w, string a, ModelConfig cfg)
    {
        bool moe = cfg.NRoutedExperts > 0;
        w.AddUInt32($"{a}.leading_dense_block_count", (uint)(moe ? cfg.FirstKDenseReplace : cfg.NumHiddenLayers));
        w.AddUInt32($"{a}.expert_feed_forward_length", (uint)(moe ? cfg.MoeIntermediateSize : cfg.IntermediateSize));
        w.AddUInt32($"{a}.expert_shared_count", (uint)(moe ? cfg.NSharedExperts : 0));
        if (!moe) return;
        w.AddUInt32($"{a}.expert_count", (uint)cfg.NRoutedExperts);
        w.AddUInt32($"{a}.expert_used_count", (uint)cfg.NumExpertsPerTok);
        w.AddFloat32($"{a}.expert_weights_scale", (float)cfg.RoutedScalingFactor);
        w.AddBool($"{a}.expert_weights_norm", cfg.NormTopkProb);
        w.AddUInt32($"{a}.expert_gating_func", cfg.ScoringFunc == "sigmoid" ? 2u : 1u); // LLAMA_EXPERT_GATING_FUNC_TYPE_*
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
        var g = new GgufTensors(w, model, matrixType);
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        g.Put("token_embd.weight", g.Take("model.embed_tokens.weight"), matrix: true, embedding: true);
        g.Put("output_norm.weight", g.Take("model.norm.weight"), matrix: false);
        if (!cfg.TieWordEmbeddings) g.Put("output.weight", g.Take("lm_head.weight"), matrix: true, embedding: true);
        if (cfg.IsMla) GgufDeepseek2.WriteTensors(g, cfg);
        else GgufMha.WriteTensors(g, cfg);
        g.CheckAllPlaced();
    }

    /// <summary>Layer <paramref name="i"/>'s feed-forward: a dense SwiGLU, or routed experts stacked, the shared ones
    /// and the router. <paramref name="biasRequired"/>: the loader needs exp_probs_b even for a router without the
    /// correction bias (glm4moe); zeros then select the same experts.</summary>
    internal static void WriteFeedForward(GgufTensors g, ModelConfig cfg, int i, bool biasRequired)
    {
        string p = $"model.layers.{i}.", b = $"blk.{i}.";
        if (!cfg.IsMoeLayer(i))
        {
            foreach (var (ours, theirs) in GgufTensors.Projections) g.Put($"{b}ffn_{theirs}.weight", g.Take($"{p}mlp.{ours}_proj.weight"), true);
            return;
        }
        g.Put(b + "ffn_gate_inp.weight", g.Take(p + "mlp.gate.weight"), false);          // the router stays F32
        var bias = g.Take(p + "mlp.gate.e_score_correction_bias");
        if (cfg.TopkMethod == "noaux_tc") g.Put(b + "exp_probs_b.bias", bias, false);
        else if (biasRequired) g.Put(b + "exp_probs_b.bias", zeros_like(bias), false);
        foreach (var (ours, theirs) in GgufTensors.Projections)
        {
            g.Put($"{b}ffn_{theirs}_exps.weight", g.Experts(p, cfg.NRoutedExperts, ours), true); // (E, out, in)
            g.Put($"{b}ffn_{theirs}_shexp.weight", g.Take($"{p}mlp.shared_experts.{ours}_proj.weight"), true);
        }
    }

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
