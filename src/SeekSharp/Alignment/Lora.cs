using System.Text.Json;
using System.Text.Json.Serialization;
using SeekSharp.Checkpoints;
using SeekSharp.IO;
using SeekSharp.Modeling;
using TorchSharp;
using Parameter = TorchSharp.Modules.Parameter;
using static TorchSharp.torch;

namespace SeekSharp.Alignment;

// Which Linears get adapters (docs/decisions/0006): every attention projection (MLA's q_a/q_b or q,
// kv_a_proj_with_mqa, kv_b_proj, o_proj; MHA's q/k/v/o) and the SwiGLU projections of dense layers and
// shared experts. Not the routed experts, the router, the embeddings or the output head: routed experts
// each see a fraction of the tokens and would multiply the adapter by the expert count, and a frozen
// router keeps the load balance the base model learned.
// Besides the adapters, the embedding rows (and untied output-head rows) of the special tokens train in
// full: pretraining on plain documents never shows the chat roles or the R1 tags, so their rows are still
// random, and with them frozen LoRA cannot learn to emit <think> or <answer>. Measured on the quickstart
// model after 100 SFT steps on arithmetic: special-token targets at 3.7 nats (a third of the loss) with
// r=8, and the same at r=32, against 0.03 with full fine-tuning; other tokens 1.00 against 0.94.
// Gradients of every other row are zeroed each step, so those rows stay bitwise equal to the base.
// An adapter folder is PEFT-shaped (adapter_config.json + adapter_model.safetensors with
// "base_model.model.<module>.lora_A.weight" keys); the trained rows are stored as
// "base_model.model.<matrix>.trainable_rows" (K, D) with their ids in "trainable_token_indices".

/// <summary>LoRA settings. Immutable; saved as adapter_config.json and in sft_config.json.</summary>
public sealed record LoraConfig
{
    /// <summary>Rank r of the update B·A.</summary>
    [JsonPropertyName("r")] public int Rank { get; init; } = 8;
    /// <summary>The update is scaled by alpha / r.</summary>
    [JsonPropertyName("lora_alpha")] public double Alpha { get; init; } = 16;
    /// <summary>Also train the special tokens' embedding (and untied output) rows in full.</summary>
    [JsonPropertyName("train_special_tokens")] public bool TrainSpecialTokens { get; init; } = true;

    public const int MaxRank = 1 << 16;

    public LoraConfig Validate(string source = "lora")
    {
        // Bounded, since each adapter allocates rank × width before a loaded one is compared with its file.
        if (Rank <= 0 || Rank > MaxRank) throw new SeekSharpException($"{source}: 'r' (--lora) must be an integer from 1 to {MaxRank}, got {Rank}.");
        if (!(Alpha > 0) || !double.IsFinite(Alpha)) throw new SeekSharpException($"{source}: 'lora_alpha' must be positive, got {Alpha}.");
        return this;
    }
}

/// <summary>Attaches, saves, loads and merges LoRA adapters of a <see cref="Transformer"/>.</summary>
public static class Lora
{
    public const string ConfigFile = "adapter_config.json";
    public const string WeightsFile = "adapter_model.safetensors";
    const string KeyPrefix = "base_model.model.";

    /// <summary>The Linears that take adapters, by module name.</summary>
    public static List<(string Name, Linear Linear)> Targets(Transformer model) =>
        model.named_modules().Where(m => m.module is Linear && IsTarget(m.name)).Select(m => (m.name, (Linear)m.module)).ToList();

    static bool IsTarget(string name) => !name.Contains(".experts.") && name != "lm_head";

    /// <summary>Freezes every base parameter and attaches fresh adapters (B = 0, so the model is unchanged).</summary>
    /// <param name="tokenRows">Token ids whose embedding (and untied output) rows train in full; empty for none.</param>
    /// <returns>What the optimizer trains, and the gradient mask that keeps the other rows frozen.</returns>
    public static LoraAttachment Attach(Transformer model, LoraConfig cfg, long seed, IReadOnlyList<int>? tokenRows = null)
    {
        cfg.Validate();
        foreach (var p in model.parameters()) p.requires_grad = false;
        using var generator = new Generator((ulong)seed);
        foreach (var (_, lin) in Targets(model))
        {
            lin.Adapter?.Dispose();
            lin.Adapter = new LoraAdapter(lin.InFeatures, lin.OutFeatures, cfg.Rank, cfg.Alpha, generator, lin.weight.device);
        }
        int[] rows = [.. (tokenRows ?? []).Distinct().Order()];
        var rowMatrices = rows.Length > 0 ? RowMatrices(model) : [];
        foreach (var (_, p) in rowMatrices) p.requires_grad = true;
        return new LoraAttachment([.. Parameters(model), .. rowMatrices], rows, rowMatrices.Select(m => m.P).ToList());
    }

    /// <summary>The (V, D) matrices indexed by token id: the embedding, and the output head when untied.</summary>
    static List<(string Name, Parameter P)> RowMatrices(Transformer model) =>
        model.named_parameters().Where(n => n.name is "model.embed_tokens.weight" or "lm_head.weight").Select(n => (n.name, n.parameter)).ToList();

    /// <summary>Attached adapters' parameters, named "&lt;module&gt;.lora_A.weight" / ".lora_B.weight".</summary>
    public static List<(string Name, Parameter P)> Parameters(Transformer model)
    {
        var list = new List<(string, Parameter)>();
        foreach (var (name, lin) in Targets(model))
            if (lin.Adapter is { } a) { list.Add(($"{name}.lora_A.weight", a.lora_A)); list.Add(($"{name}.lora_B.weight", a.lora_B)); }
        return list;
    }

    /// <summary>Folds every adapter into its weight; the model becomes a plain checkpoint.</summary>
    public static int Merge(Transformer model)
    {
        int merged = 0;
        foreach (var (_, lin) in Targets(model))
            if (lin.Adapter is not null) { lin.MergeAdapter(); merged++; }
        return merged;
    }

    /// <summary>Writes adapter_config.json and adapter_model.safetensors into <paramref name="dir"/>.</summary>
    /// <param name="tokenRows">Token ids whose rows were trained in full (saved with the adapters).</param>
    public static void Save(string dir, Transformer model, LoraConfig cfg, string? baseModel = null, IReadOnlyList<int>? tokenRows = null)
    {
        var named = Parameters(model);
        if (named.Count == 0) throw new SeekSharpException($"{dir}: the model has no LoRA adapters to save.");
        Directory.CreateDirectory(dir);
        int[] rows = [.. tokenRows ?? []];
        using var scope = NewDisposeScope();
        var tensors = named.ToDictionary(n => KeyPrefix + n.Name, n => (Tensor)n.P);
        if (rows.Length > 0)
            foreach (var (name, p) in RowMatrices(model))
                tensors[$"{KeyPrefix}{name[..^".weight".Length]}.trainable_rows"] = p.detach().index_select(0, tensor(rows.Select(r => (long)r).ToArray()).to(p.device));
        Safetensors.Save(Path.Combine(dir, WeightsFile), tensors, new Dictionary<string, string> { ["format"] = "pt", ["producer"] = "SeekSharp" });
        var file = new AdapterFile
        {
            Rank = cfg.Rank, Alpha = cfg.Alpha, BaseModel = baseModel, TrainableTokens = rows.Length > 0 ? rows : null,
            TargetModules = Targets(model).Select(t => t.Name.Split('.')[^1]).Distinct().Order(StringComparer.Ordinal).ToArray(),
        };
        AtomicFile.WriteAllText(Path.Combine(dir, ConfigFile), JsonSerializer.Serialize(file, AdapterFile.Json));
    }

    /// <summary>Attaches the adapters saved in <paramref name="dir"/> to <paramref name="model"/>; every target must be present with the
    /// right shape. Trained token rows, a full replacement with nothing low-rank to keep apart, are written into the model at once.</summary>
    public static LoraConfig Load(string dir, Transformer model)
    {
        var cfgPath = Path.Combine(dir, ConfigFile);
        var cfgBytes = CheckedFile.ReadAllBytes(cfgPath, "adapter config not found (expected a folder written by `seek chat sft --lora`).", CheckedFile.MaxConfigBytes);
        AdapterFile file;
        try { file = JsonSerializer.Deserialize<AdapterFile>(cfgBytes, AdapterFile.Json) ?? throw new JsonException("empty"); }
        catch (JsonException e) { throw new SeekSharpException($"{cfgPath}: malformed adapter config: {e.Message}"); }
        if (file.PeftType != "LORA") throw new SeekSharpException($"{cfgPath}: 'peft_type' is \"{file.PeftType}\", expected \"LORA\".");
        var cfg = new LoraConfig { Rank = file.Rank, Alpha = file.Alpha, TrainSpecialTokens = file.TrainableTokens is { Length: > 0 } }.Validate(cfgPath);

        var weightsPath = Path.Combine(dir, WeightsFile);
        CheckedFile.Check(weightsPath, "adapter weights not found.");
        var tensors = Safetensors.Load(weightsPath);
        try
        {
            var targets = Targets(model);
            var expected = targets.SelectMany(t => new[] { $"{KeyPrefix}{t.Name}.lora_A.weight", $"{KeyPrefix}{t.Name}.lora_B.weight" }).ToHashSet();
            int[] rows = file.TrainableTokens ?? [];
            var rowMatrices = rows.Length > 0 ? RowMatrices(model) : [];
            foreach (var (name, _) in rowMatrices) expected.Add($"{KeyPrefix}{name[..^".weight".Length]}.trainable_rows");
            if (tensors.Keys.FirstOrDefault(k => !expected.Contains(k)) is { } extra)
                throw new SeekSharpException($"{weightsPath}: unexpected tensor '{extra}' for this model (is the adapter from another base?).");
            using var _ = no_grad();
            foreach (var (name, lin) in targets)
            {
                Tensor Get(string part, long rows, long cols)
                {
                    var key = $"{KeyPrefix}{name}.{part}.weight";
                    if (!tensors.TryGetValue(key, out var t)) throw new SeekSharpException($"{weightsPath}: missing tensor '{key}'.");
                    if (t.dim() != 2 || t.shape[0] != rows || t.shape[1] != cols)
                        throw new SeekSharpException($"{weightsPath}: tensor '{key}' has shape [{string.Join(",", t.shape)}], expected [{rows},{cols}].");
                    if (!t.is_floating_point() || !Native.Finite.All(t))
                        throw new SeekSharpException($"{weightsPath}: tensor '{key}' is not finite floating-point data (dtype {t.dtype}, or NaN/infinite values).");
                    return t;
                }
                var (loraA, loraB) = (Get("lora_A", cfg.Rank, lin.InFeatures), Get("lora_B", lin.OutFeatures, cfg.Rank)); // checked before allocating
                var a = new LoraAdapter(lin.InFeatures, lin.OutFeatures, cfg.Rank, cfg.Alpha, device: lin.weight.device);
                a.lora_A.copy_(loraA);
                a.lora_B.copy_(loraB);
                lin.Adapter?.Dispose();
                lin.Adapter = a;
            }
            foreach (var (name, p) in rowMatrices)
            {
                var key = $"{KeyPrefix}{name[..^".weight".Length]}.trainable_rows";
                if (!tensors.TryGetValue(key, out var t)) throw new SeekSharpException($"{weightsPath}: missing tensor '{key}' (adapter_config.json lists trainable_token_indices).");
                if (rows.Any(r => r < 0 || r >= p.shape[0]) || t.dim() != 2 || t.shape[0] != rows.Length || t.shape[1] != p.shape[1])
                    throw new SeekSharpException($"{weightsPath}: tensor '{key}' has shape [{string.Join(",", t.shape)}], expected [{rows.Length},{p.shape[1]}] with ids below {p.shape[0]}.");
                p.index_copy_(0, tensor(rows.Select(r => (long)r).ToArray()).to(p.device), t.to(p.device));
            }
        }
        finally { foreach (var t in tensors.Values) t.Dispose(); }
        return cfg;
    }

    /// <summary>adapter_config.json, in PEFT's keys.</summary>
    sealed record AdapterFile
    {
        [JsonPropertyName("peft_type")] public string PeftType { get; init; } = "LORA";
        [JsonPropertyName("task_type")] public string TaskType { get; init; } = "CAUSAL_LM";
        [JsonPropertyName("r")] public int Rank { get; init; }
        [JsonPropertyName("lora_alpha")] public double Alpha { get; init; }
        [JsonPropertyName("lora_dropout")] public double Dropout { get; init; }
        [JsonPropertyName("bias")] public string Bias { get; init; } = "none";
        [JsonPropertyName("target_modules")] public string[] TargetModules { get; init; } = [];
        [JsonPropertyName("base_model_name_or_path")] public string? BaseModel { get; init; }
        [JsonPropertyName("trainable_token_indices"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public int[]? TrainableTokens { get; init; }

        public static readonly JsonSerializerOptions Json = new() { WriteIndented = true };
    }
}

/// <summary>What <see cref="Lora.Attach"/> made trainable.</summary>
/// <param name="Parameters">Adapters, and the row matrices when token rows train: what the optimizer gets.</param>
/// <param name="TokenRows">Token ids whose rows train in full.</param>
public sealed record LoraAttachment(List<(string Name, Parameter P)> Parameters, int[] TokenRows, IReadOnlyList<Parameter> RowMatrices)
{
    /// <summary>Zeroes the row matrices' gradients outside <see cref="TokenRows"/> (call after backward, before clipping).</summary>
    public void MaskGradients()
    {
        foreach (var p in RowMatrices)
        {
            if (p.grad is not { } g) continue;
            using var scope = NewDisposeScope();
            var keep = zeros([g.shape[0], 1], dtype: g.dtype, device: g.device);
            keep.index_fill_(0, tensor(TokenRows.Select(r => (long)r).ToArray()).to(g.device), 1);
            g.mul_(keep);
        }
    }
}

/// <summary>What <see cref="LoraMerge.Run"/> wrote.</summary>
public sealed record LoraMergeResult(string OutDir, int Modules, LoraConfig Config);

/// <summary>Base model folder + adapter folder → plain model folder.</summary>
public static class LoraMerge
{
    public static LoraMergeResult Run(string modelDir, string adapterDir, string outDir)
    {
        FineTuning.PrepareOutput(modelDir, outDir);
        using var model = ModelFiles.Load(modelDir);
        var cfg = Lora.Load(adapterDir, model);
        int merged = Lora.Merge(model);
        ModelFiles.Save(outDir, model, tokenizerFrom: modelDir);
        return new LoraMergeResult(outDir, merged, cfg);
    }
}
