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
// router keeps the load balance the base model learned. An adapter folder is PEFT-shaped
// (adapter_config.json + adapter_model.safetensors with "base_model.model.<module>.lora_A.weight" keys),
// so other tools can read it.

/// <summary>LoRA settings. Immutable; saved as adapter_config.json and in sft_config.json.</summary>
public sealed record LoraConfig
{
    /// <summary>Rank r of the update B·A.</summary>
    [JsonPropertyName("r")] public int Rank { get; init; } = 8;
    /// <summary>The update is scaled by alpha / r.</summary>
    [JsonPropertyName("lora_alpha")] public double Alpha { get; init; } = 16;

    public LoraConfig Validate(string source = "lora")
    {
        if (Rank <= 0) throw new SeekSharpException($"{source}: 'r' (--lora) must be a positive integer, got {Rank}.");
        if (!(Alpha > 0)) throw new SeekSharpException($"{source}: 'lora_alpha' must be positive, got {Alpha}.");
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
    /// <returns>The adapters' parameters by name: what the optimizer trains.</returns>
    public static List<(string Name, Parameter P)> Attach(Transformer model, LoraConfig cfg, long seed)
    {
        cfg.Validate();
        foreach (var p in model.parameters()) p.requires_grad = false;
        using var generator = new Generator((ulong)seed);
        foreach (var (_, lin) in Targets(model))
        {
            lin.Adapter?.Dispose();
            lin.Adapter = new LoraAdapter(lin.InFeatures, lin.OutFeatures, cfg.Rank, cfg.Alpha, generator, lin.weight.device);
        }
        return Parameters(model);
    }

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
    public static void Save(string dir, Transformer model, LoraConfig cfg, string? baseModel = null)
    {
        var named = Parameters(model);
        if (named.Count == 0) throw new SeekSharpException($"{dir}: the model has no LoRA adapters to save.");
        Directory.CreateDirectory(dir);
        Safetensors.Save(Path.Combine(dir, WeightsFile), named.ToDictionary(n => KeyPrefix + n.Name, n => (Tensor)n.P),
            new Dictionary<string, string> { ["format"] = "pt", ["producer"] = "SeekSharp" });
        var file = new AdapterFile
        {
            Rank = cfg.Rank, Alpha = cfg.Alpha, BaseModel = baseModel,
            TargetModules = Targets(model).Select(t => t.Name.Split('.')[^1]).Distinct().Order(StringComparer.Ordinal).ToArray(),
        };
        AtomicFile.WriteAllText(Path.Combine(dir, ConfigFile), JsonSerializer.Serialize(file, AdapterFile.Json));
    }

    /// <summary>Attaches the adapters saved in <paramref name="dir"/> to <paramref name="model"/>; every target must be present with the right shape.</summary>
    public static LoraConfig Load(string dir, Transformer model)
    {
        var cfgPath = Path.Combine(dir, ConfigFile);
        if (!File.Exists(cfgPath)) throw new SeekSharpException($"{cfgPath}: adapter config not found (expected a folder written by `seek chat sft --lora`).");
        AdapterFile file;
        try { file = JsonSerializer.Deserialize<AdapterFile>(File.ReadAllText(cfgPath), AdapterFile.Json) ?? throw new JsonException("empty"); }
        catch (JsonException e) { throw new SeekSharpException($"{cfgPath}: malformed adapter config: {e.Message}"); }
        if (file.PeftType != "LORA") throw new SeekSharpException($"{cfgPath}: 'peft_type' is \"{file.PeftType}\", expected \"LORA\".");
        var cfg = new LoraConfig { Rank = file.Rank, Alpha = file.Alpha }.Validate(cfgPath);

        var weightsPath = Path.Combine(dir, WeightsFile);
        if (!File.Exists(weightsPath)) throw new SeekSharpException($"{weightsPath}: adapter weights not found.");
        var tensors = Safetensors.Load(weightsPath);
        try
        {
            var targets = Targets(model);
            var expected = targets.SelectMany(t => new[] { $"{KeyPrefix}{t.Name}.lora_A.weight", $"{KeyPrefix}{t.Name}.lora_B.weight" }).ToHashSet();
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
                    return t;
                }
                var a = new LoraAdapter(lin.InFeatures, lin.OutFeatures, cfg.Rank, cfg.Alpha, device: lin.weight.device);
                a.lora_A.copy_(Get("lora_A", cfg.Rank, lin.InFeatures));
                a.lora_B.copy_(Get("lora_B", lin.OutFeatures, cfg.Rank));
                lin.Adapter?.Dispose();
                lin.Adapter = a;
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

        public static readonly JsonSerializerOptions Json = new() { WriteIndented = true };
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
        ModelFiles.Save(outDir, model);
        Tokenization.BpeTokenizer.CopyFiles(modelDir, outDir);
        return new LoraMergeResult(outDir, merged, cfg);
    }
}
