using System.Text.Json.Nodes;
using TorchSharp;
using SeekSharp.Compression;
using SeekSharp.Native;
using SeekSharp.IO;
using SeekSharp.Modeling;
using SeekSharp.Tokenization;
using static TorchSharp.torch;

namespace SeekSharp.Checkpoints;

// A model folder is what every stage hands to the next: config.json (Hugging Face DeepSeek-V3 keys)
// plus model.safetensors (Hugging Face tensor names), and the tokenizer files beside them. Weights are
// stored as the fp32 masters; loading checks every tensor by name, shape and dtype before copying, so
// a wrong or truncated file fails with its name instead of a native error halfway through.
// A quantized folder (`seek quantize`, or DeepSeek-V3's FP8 release) adds "quantization_config" to config.json and
// stores its projection weights in that format; Compression/QuantizedFolder reads and writes those tensors.

/// <summary>Reads and writes a model as config.json + model.safetensors.</summary>
public static class ModelFiles
{
    public const string ConfigFile = "config.json";
    public const string WeightsFile = "model.safetensors";
    /// <summary>The index of a sharded folder's weights (Hugging Face's name); see ModelWeights.cs.</summary>
    public const string IndexFile = ModelWeights.IndexFile;

    public const string GenerationConfigFile = "generation_config.json";

    /// <summary>Writes model.safetensors and config.json; with the tokenizer (copied from <paramref name="tokenizerFrom"/>,
    /// or already in <paramref name="dir"/>) also its bos/eos/pad ids into config.json and generation_config.json,
    /// so that transformers' generate stops at &lt;|eos|&gt; as SeekSharp does.</summary>
    /// <param name="tokenizerFrom">Folder (or tokenizer.json) whose tokenizer files are copied in first.</param>
    /// <param name="maxShardBytes">Weights past this many bytes are written as shards with an index (ModelWeights.cs).</param>
    public static void Save(string dir, Transformer model, IReadOnlyDictionary<string, string>? metadata = null, string? tokenizerFrom = null,
        long maxShardBytes = DefaultMaxShardBytes)
    {
        var (tensors, dtypes) = QuantizedFolder.Tensors(model);
        Save(dir, model.Config, tensors, dtypes, QuantizedFolder.ConfigOf(model), metadata, tokenizerFrom, maxShardBytes);
    }

    /// <summary>A full-precision model folder from its state_dict tensors by name (a pipeline's stages gathered).</summary>
    public static void Save(string dir, ModelConfig config, IReadOnlyDictionary<string, Tensor> tensors, string? tokenizerFrom = null,
        long maxShardBytes = DefaultMaxShardBytes) =>
        Save(dir, config, tensors, null, null, null, tokenizerFrom, maxShardBytes);

    /// <summary>Hugging Face's default max_shard_size (5GB): a folder's weights up to this size stay one file.</summary>
    public const long DefaultMaxShardBytes = ModelWeights.DefaultMaxShardBytes;

    static void Save(string dir, ModelConfig config, IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string>? dtypes,
        QuantizationConfig? quantization, IReadOnlyDictionary<string, string>? metadata, string? tokenizerFrom, long maxShardBytes)
    {
        Directory.CreateDirectory(dir);
        var meta = new Dictionary<string, string> { ["format"] = "pt", ["producer"] = "SeekSharp" };
        if (metadata is not null) foreach (var (k, v) in metadata) meta[k] = v;
        ModelWeights.Save(dir, tensors, meta, dtypes, maxShardBytes);
        if (tokenizerFrom is not null && !SameFolder(tokenizerFrom, dir)) BpeTokenizer.CopyFiles(tokenizerFrom, dir);
        var tokenizer = File.Exists(Path.Combine(dir, BpeTokenizer.FileNames[0])) ? BpeTokenizer.Load(dir) : null;
        if (tokenizer is not null)
            AtomicFile.WriteAllText(Path.Combine(dir, GenerationConfigFile), TokenIds(new JsonObject(), tokenizer).ToJsonString(ModelConfig.Json));
        // config.json last: it is what makes the folder a model folder.
        AtomicFile.WriteAllText(Path.Combine(dir, ConfigFile), ConfigJson(config, tokenizer, quantization));
    }

    /// <summary>config.json text: the config, the tokenizer's special ids where it is known, and the quantization_config
    /// of a quantized model.</summary>
    public static string ConfigJson(ModelConfig cfg, BpeTokenizer? tokenizer, QuantizationConfig? quantization = null)
    {
        if (quantization is not null)
        {
            var withQuant = JsonNode.Parse(ConfigJson(cfg, tokenizer))!.AsObject();
            withQuant[QuantizationConfig.Key] = quantization.ToJson();
            return withQuant.ToJsonString(ModelConfig.Json);
        }
        if (tokenizer is null) return cfg.ToJson();
        if (Math.Max(tokenizer.BosId, Math.Max(tokenizer.EosId, tokenizer.PadId)) >= cfg.VocabSize)
            throw new SeekSharpException($"the tokenizer's special ids (bos {tokenizer.BosId}, eos {tokenizer.EosId}, pad {tokenizer.PadId}) are outside the model's vocab_size {cfg.VocabSize}; is the tokenizer from another model?");
        var obj = JsonNode.Parse(cfg.ToJson())!.AsObject();
        return TokenIds(obj, tokenizer).ToJsonString(ModelConfig.Json);
    }

    // Only the three ids: anything else in generation_config.json (do_sample, temperature, max_length) would change
    // transformers' defaults for generate, and SeekSharp's own defaults are set per command.
    static JsonObject TokenIds(JsonObject obj, BpeTokenizer tokenizer)
    {
        obj["bos_token_id"] = tokenizer.BosId;
        obj["eos_token_id"] = tokenizer.EosId;
        obj["pad_token_id"] = tokenizer.PadId;
        return obj;
    }

    static bool SameFolder(string from, string dir) =>
        Directory.Exists(from) && Path.GetFullPath(from).TrimEnd(Path.DirectorySeparatorChar) == Path.GetFullPath(dir).TrimEnd(Path.DirectorySeparatorChar);

    /// <summary>Loads config and weights from <paramref name="dir"/> (a run folder or a checkpoint folder).</summary>
    public static Transformer Load(string dir, Device? device = null)
    {
        if (!Directory.Exists(dir)) throw new SeekSharpException($"{dir}: model folder not found.");
        var cfgPath = Path.Combine(dir, ConfigFile);
        var cfg = ModelConfig.Load(cfgPath, out var interleaved);
        var quant = QuantizedFolder.ReadConfig(cfgPath);
        var weights = ModelWeights.OfFolder(dir);
        // A config asking for MTP modules whose weights are not in the file (a transformers conversion of DeepSeek-V3
        // drops layer 61) loads as the main model alone: the modules only ever draft tokens. Decision 0021.
        if (cfg.NumNextnPredictLayers > 0 && !weights.Entries.Any(e => e.Name.StartsWith($"model.layers.{cfg.NumHiddenLayers}.", StringComparison.Ordinal)))
            cfg = cfg with { NumNextnPredictLayers = 0 };
        // Before the Transformer allocates what the config describes: a config that disagrees with the
        // weights (vocab_size 10^9 beside a 64-row embedding) fails here, naming the field.
        CheckConfigAgainstWeights(cfg, cfgPath, weights);
        if (quant is null) QuantizedFolder.RefuseWithoutConfig(weights, cfgPath);
        else if (device is not null && device.type != DeviceType.CPU)
            throw new SeekSharpException($"{dir}: a quantized model ({quant.Name}) runs on the CPU here; use --device cpu.");
        var model = quant is null ? new Transformer(cfg) : Transformer.ForLoading(cfg);
        try
        {
            var consumed = quant is null ? [] : QuantizedFolder.Load(model, weights, quant);
            LoadWeights(model, weights, consumed);
            if (interleaved) Deinterleave(model);
            if (device is not null) model.to(device);
            MallocTuning.ReturnFreedMemory(); // the load's temporaries (read buffers; a quantized load's unused masters)
            return model;
        }
        catch { model.Dispose(); throw; }
    }

    // transformers' rope_interleave (DeepSeek's release): each rotary slice of a query head and of k_pe is taken in the
    // order [0, 2, 4, ..., 1, 3, 5, ...] before the rotate-half rotation. Taking the weight rows that produce them in
    // that order instead gives our rotate-half model the same activations, exactly (a permutation, no arithmetic).
    static void Deinterleave(Transformer model)
    {
        var cfg = model.Config;
        int rope = cfg.QkRopeHeadDim, head = cfg.QkHeadDim;
        long[] Rows(long total, IEnumerable<long> offsets)
        {
            var rows = new long[total];
            for (long i = 0; i < total; i++) rows[i] = i;
            foreach (var o in offsets)
                for (var j = 0; j < rope; j++) rows[o + j] = o + (j < rope / 2 ? 2 * j : 2 * (j - rope / 2) + 1);
            return rows;
        }
        var state = model.state_dict();
        var linears = model.named_modules().Where(m => m.module is Linear).ToDictionary(m => m.name + ".weight", m => (Linear)m.module);
        using var _ = no_grad();
        void Permute(string name, long[] rows)
        {
            if (linears[name].Quantized is { } quantized) { quantized.PermuteRows(rows); return; }
            var w = state[name];
            using var index = tensor(rows, device: w.device);
            using var reordered = w.index_select(0, index);
            w.copy_(reordered);
        }
        for (var l = 0; l < cfg.NumHiddenLayers; l++)
        {
            var p = $"model.layers.{l}.self_attn.";
            var q = p + (cfg.QLoraRank == 0 ? "q_proj.weight" : "q_b_proj.weight");
            Permute(q, Rows(linears[q].OutFeatures, Enumerable.Range(0, cfg.NumAttentionHeads).Select(h => (long)h * head + cfg.QkNopeHeadDim)));
            var kv = p + "kv_a_proj_with_mqa.weight";
            Permute(kv, Rows(linears[kv].OutFeatures, [cfg.KvLoraRank]));
        }
    }

    /// <summary>Reads the weights of model folder <paramref name="dir"/> (one file or shards) into <paramref name="model"/>.</summary>
    public static void LoadWeights(Transformer model, string dir) => LoadWeights(model, ModelWeights.OfFolder(dir), []);

    /// <summary>Every tensor of model folder <paramref name="dir"/>'s weights (one file or shards), by name; the caller disposes them.</summary>
    public static Dictionary<string, Tensor> LoadTensors(string dir)
    {
        var weights = ModelWeights.OfFolder(dir);
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        using var reader = weights.Open();
        try { foreach (var e in weights.Entries) result.Add(e.Name, reader.Read(e)); }
        catch { foreach (var t in result.Values) t.Dispose(); throw; }
        return result;
    }

    /// <summary>Bytes of model folder <paramref name="dir"/>'s weight files (one file or every shard).</summary>
    public static long WeightBytes(string dir) => ModelWeights.OfFolder(dir).Files.Sum(f => f.FileLength);

    /// <summary>Paths of model folder <paramref name="dir"/>'s weight files: model.safetensors, or the index and its shards in order.</summary>
    public static IReadOnlyList<string> WeightFiles(string dir)
    {
        var weights = ModelWeights.OfFolder(dir);
        return weights.Files.Count == 1 && weights.Path == weights.Files[0].Path ? [weights.Path] : [weights.Path, .. weights.Files.Select(f => f.Path)];
    }

    /// <summary>A --max-shard-size value: bytes, or a number with KB/MB/GB (powers of 1000, as Hugging Face) or KiB/MiB/GiB.</summary>
    public static long ParseShardSize(string text, string flag) => ModelWeights.ParseSize(text, flag);

    /// <summary>Whether <paramref name="dir"/> holds weights (model.safetensors or a shard index).</summary>
    public static bool HasWeights(string dir) => ModelWeights.Exist(dir);

    // Every name, shape and dtype is checked against the model before the first tensor is read; then the
    // tensors are read one at a time (memory: the model plus its largest tensor) and each must be finite,
    // since one NaN in a weight makes every later logit NaN.
    /// <param name="consumed">Tensors already read into quantized Linears (their emptied masters are not targets).</param>
    static void LoadWeights(Transformer model, ModelWeights file, HashSet<string> consumed)
    {
        var path = file.Path;
        var target = model.state_dict().Where(kv => !consumed.Contains(kv.Key)).ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);
        var loaded = file.Entries.Where(e => !consumed.Contains(e.Name)).ToDictionary(e => e.Name, StringComparer.Ordinal);
        var missing = target.Keys.Where(k => !loaded.ContainsKey(k)).ToList();
        if (missing.Count > 0)
            throw new SeekSharpException($"{path}: missing {missing.Count} tensor(s) the config needs, e.g. '{missing[0]}'.");
        // DeepSeek-V3's release stores, in each MTP layer, copies of the shared embedding and output head
        // (model.layers.{L}.embed_tokens / .shared_head.head). Our modules use the main ones (they are shared by
        // definition), so such copies are accepted when their shapes match and left unread.
        foreach (var copy in MtpSharedCopies(model.Config, loaded.Keys, target).ToList())
        {
            var (name, main) = copy;
            if (!loaded[name].Shape.SequenceEqual(target[main].shape))
                throw new SeekSharpException($"{path}: tensor '{name}' has shape [{string.Join(",", loaded[name].Shape)}], expected [{string.Join(",", target[main].shape)}] (a copy of '{main}').");
            loaded.Remove(name);
        }
        var extra = loaded.Keys.Where(k => !target.ContainsKey(k)).ToList();
        if (extra.Count > 0)
            throw new SeekSharpException($"{path}: unexpected tensor '{extra[0]}' for this config (is config.json from another model?).");
        foreach (var (name, dst) in target)
        {
            var src = loaded[name];
            if (src.DType is "U8" or SafetensorsDType.Fp8E4M3)
                throw new SeekSharpException($"{path}: tensor '{name}' is {src.DType} (quantized); only a model folder with a quantization_config loads it, "
                    + "and training or --resume needs full-precision weights (resume from a bf16/fp32 checkpoint).");
            if (!src.Shape.SequenceEqual(dst.shape))
                throw new SeekSharpException($"{path}: tensor '{name}' has shape [{string.Join(",", src.Shape)}], expected [{string.Join(",", dst.shape)}].");
            if (!is_floating_point(src.Type))
                throw new SeekSharpException($"{path}: tensor '{name}' has dtype {src.Type}, expected a floating-point type (F32, F16, BF16 or F64).");
        }
        using var reader = file.Open();
        using var _ = no_grad();
        foreach (var (name, dst) in target)
        {
            using var src = reader.Read(loaded[name]);
            dst.copy_(src);
            // After the copy: an F64 value too large for fp32 turns infinite only there.
            if (!Finite.All(dst))
                throw new SeekSharpException($"{file.PathOf(name)}: tensor '{name}' holds NaN or infinite values; the weights are corrupt (or training diverged).");
        }
    }

    /// <summary>The names of MTP layers' copies of the shared embedding and head in <paramref name="names"/>, with the
    /// main tensor each copies (the tied embedding when there is no lm_head).</summary>
    static IEnumerable<(string Name, string Main)> MtpSharedCopies(ModelConfig cfg, IEnumerable<string> names, IReadOnlyDictionary<string, Tensor> target)
    {
        var head = target.ContainsKey("lm_head.weight") ? "lm_head.weight" : "model.embed_tokens.weight";
        for (int l = cfg.NumHiddenLayers; l < cfg.NumHiddenLayers + cfg.NumNextnPredictLayers; l++)
            foreach (var (suffix, main) in new[] { ("embed_tokens.weight", "model.embed_tokens.weight"), ("shared_head.head.weight", head) })
            {
                var name = $"model.layers.{l}.{suffix}";
                if (names.Contains(name) && !target.ContainsKey(name)) yield return (name, main);
            }
    }

    /// <summary>The config fields a weights header shows directly: embedding rows and width, the layer count and the
    /// experts per layer; then the parameter count, which can only be at most the values the file holds.</summary>
    static void CheckConfigAgainstWeights(ModelConfig cfg, string cfgPath, ModelWeights file)
    {
        var weights = file.Path;
        void Need(bool ok, string field, object value, string found)
        {
            if (!ok) throw new SeekSharpException($"{cfgPath}: field '{field}' is {value}, but {weights} {found}.");
        }
        var byName = file.Entries.ToDictionary(e => e.Name, StringComparer.Ordinal);
        if (byName.TryGetValue("model.embed_tokens.weight", out var embed) && embed.Shape.Length == 2)
        {
            Need(embed.Shape[0] == cfg.VocabSize, "vocab_size", cfg.VocabSize, $"has an embedding of {embed.Shape[0]} rows (tensor 'model.embed_tokens.weight' has shape {embed.ShapeText})");
            Need(embed.Shape[1] == cfg.HiddenSize, "hidden_size", cfg.HiddenSize, $"has an embedding of width {embed.Shape[1]} (tensor 'model.embed_tokens.weight' has shape {embed.ShapeText})");
        }
        // Layer and expert indices from names such as model.layers.3.mlp.experts.12.up_proj.weight.
        var experts = new Dictionary<int, HashSet<int>>();
        foreach (var e in file.Entries)
        {
            var parts = e.Name.Split('.');
            if (parts.Length < 3 || parts[0] != "model" || parts[1] != "layers" || !int.TryParse(parts[2], out var layer) || layer < 0) continue;
            if (!experts.TryGetValue(layer, out var set)) experts[layer] = set = [];
            if (parts.Length > 5 && parts[3] == "mlp" && parts[4] == "experts" && int.TryParse(parts[5], out var expert)) set.Add(expert);
        }
        var layers = experts.Count == 0 ? 0 : experts.Keys.Max() + 1;
        // MTP modules are the layers after the main model's last (num_nextn_predict_layers of them).
        Need(layers == cfg.NumHiddenLayers + cfg.NumNextnPredictLayers, "num_hidden_layers", cfg.NumHiddenLayers,
            $"holds {layers} layer(s) (model.layers.N.*){(cfg.NumNextnPredictLayers > 0 ? $", where the config expects {cfg.NumHiddenLayers} + num_nextn_predict_layers {cfg.NumNextnPredictLayers}" : "")}");
        for (var layer = 0; layer < layers; layer++)
        {
            var set = experts.GetValueOrDefault(layer) ?? [];
            var want = cfg.IsMoeLayer(Math.Min(layer, cfg.NumHiddenLayers - 1)) ? cfg.NRoutedExperts : 0;
            Need(set.Count == want, "n_routed_experts", cfg.NRoutedExperts, (set.Count < want ? "is missing routed experts: it holds " : "holds ")
                + $"{set.Count} in layer {layer}, where the config (with first_k_dense_replace {cfg.FirstKDenseReplace}, moe_layer_freq {cfg.MoeLayerFreq}) expects {want}");
        }
        // What the file holds bounds what the Transformer may allocate (with slack, so that a model only a few
        // tensors short is built and the loader below names the tensor that is missing).
        long values = file.Entries.Sum(e => e.Elements);
        var parameters = ModelCost.Of(cfg).TotalParams;
        if (parameters > 2 * values + (1 << 24))
            throw new SeekSharpException($"{cfgPath}: the config describes {parameters:N0} parameters, but {weights} holds only {values:N0} values; "
                + "a size field (intermediate_size, moe_intermediate_size, the head dims or ranks, n_shared_experts, tie_word_embeddings) disagrees with the weights.");
    }
}
