using System.Text.Json;
using System.Text.Json.Serialization;
using SeekSharp.IO;
using SeekSharp.Modeling;
using SeekSharp.Tokenization;
using SeekSharp.Training;

namespace SeekSharp.Checkpoints;

// A resumable checkpoint is a folder checkpoints/step_NNNNNN/ holding the model files, the optimizer's
// moments and the trainer's counters. It is assembled under a temporary name and renamed into place
// (a directory rename is atomic), and trainer_state.json is written last, so a folder with that name
// is always complete: a run killed mid-save resumes from the previous checkpoint.
// A checkpoint is also a model folder (config.json, model.safetensors and the tokenizer files), so
// every --model accepts it. Stages with more to keep (a reward head, LoRA adapters) write it through
// the extra callback into the same temporary folder, so it is part of the one atomic rename.

/// <summary>Counters that, with the weights and optimizer moments, let a run continue exactly.</summary>
public sealed record TrainerState
{
    [JsonPropertyName("step")] public int Step { get; init; }
    [JsonPropertyName("tokens_seen")] public long TokensSeen { get; init; }
    [JsonPropertyName("elapsed_seconds")] public double ElapsedSeconds { get; init; }
    [JsonPropertyName("cpu_seconds")] public double CpuSeconds { get; init; }
    [JsonPropertyName("last_loss")] public double LastLoss { get; init; }
    [JsonPropertyName("last_val_loss")] public double? LastValLoss { get; init; }
    /// <summary>The last validation's further figures (e.g. "accuracy"), for a run resumed at its end.</summary>
    [JsonPropertyName("last_val_extra")] public Dictionary<string, double>? LastValExtra { get; init; }
    [JsonPropertyName("train")] public TrainConfig Train { get; init; } = new();
    /// <summary>The run's bill up to this checkpoint (RunLedger.Snapshot), so a resumed run's ledger.json covers the whole
    /// run (RunLedger.Continue); null in checkpoints written before it was kept.</summary>
    [JsonPropertyName("ledger")] public SeekSharp.Ledger.LedgerEntry? Ledger { get; init; }
    /// <summary>What the stage that owns the run needs further to resume it (GRPO: its RL seconds and its bill so far), as it wrote it.</summary>
    [JsonPropertyName("stage")] public System.Text.Json.Nodes.JsonObject? Stage { get; init; }
}

/// <summary>Saves, finds and loads resumable checkpoints of a run folder.</summary>
public static class TrainingCheckpoint
{
    const string StateFile = "trainer_state.json";
    public const string OptimizerFile = "optimizer.safetensors";

    public static string Folder(string runDir, int step) => Path.Combine(runDir, "checkpoints", $"step_{step:D6}");

    /// <param name="tokenizerDir">Folder whose tokenizer files are copied in, making the checkpoint a model folder.</param>
    /// <param name="extra">Writes further files into the (temporary) checkpoint folder before it is renamed into place.</param>
    public static string Save(string runDir, Transformer model, AdamW optimizer, TrainerState state,
        string? tokenizerDir = null, Action<string>? extra = null, long maxShardBytes = ModelFiles.DefaultMaxShardBytes) =>
        Save(runDir, state, tmp => { ModelFiles.Save(tmp, model, tokenizerFrom: tokenizerDir, maxShardBytes: maxShardBytes); extra?.Invoke(tmp); },
            optimizer.StateTensors(), optimizer.Step, optimizer.StartedCount);

    /// <summary>The same checkpoint from parts: <paramref name="writeModel"/> writes the model folder's files into the
    /// temporary folder; <paramref name="moments"/> are the optimizer's tensors by "name.exp_avg" / "name.exp_avg_sq"
    /// (pipeline stages' state gathered by the driver).</summary>
    public static string Save(string runDir, TrainerState state, Action<string> writeModel, IReadOnlyDictionary<string, TorchSharp.torch.Tensor> moments,
        long optimizerStep, int started)
    {
        var final = Folder(runDir, state.Step);
        var tmp = Path.Combine(runDir, "checkpoints", $".tmp-step_{state.Step:D6}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(tmp);
        try
        {
            writeModel(tmp);
            Safetensors.Save(Path.Combine(tmp, OptimizerFile), moments,
                new Dictionary<string, string> { ["step"] = optimizerStep.ToString(), ["started"] = started.ToString() });
            AtomicFile.WriteAllText(Path.Combine(tmp, StateFile), JsonSerializer.Serialize(state, TrainConfig.Json));
            if (Directory.Exists(final)) Directory.Delete(final, recursive: true);
            Directory.Move(tmp, final);
        }
        catch
        {
            try { Directory.Delete(tmp, recursive: true); } catch (IOException) { }
            throw;
        }
        return final;
    }

    /// <summary>A fresh run refuses a folder that holds a checkpoint: continuing it is --resume's job, and starting over
    /// in it would mix two runs.</summary>
    public static void RefuseExisting(string runDir)
    {
        if (Latest(runDir) is { } existing)
            throw new SeekSharpException($"{runDir}: already holds checkpoint {Path.GetFileName(existing)}; pass --resume to continue it or choose another --out.");
    }

    /// <summary>The checkpoint --resume continues from: the newest complete one, or an error naming where none was found.</summary>
    public static string LatestForResume(string runDir) => Latest(runDir)
        ?? throw new SeekSharpException($"{runDir}: --resume given but no checkpoint found under {Path.Combine(runDir, "checkpoints")}.");

    /// <summary>The newest complete checkpoint folder, or null.</summary>
    public static string? Latest(string runDir)
    {
        var root = Path.Combine(runDir, "checkpoints");
        if (!Directory.Exists(root)) return null;
        return Directory.GetDirectories(root, "step_*")
            .Where(d => File.Exists(Path.Combine(d, StateFile)))
            .OrderBy(d => d, StringComparer.Ordinal)
            .LastOrDefault();
    }

    /// <summary>Deletes all but the newest <paramref name="keep"/> checkpoints, and folders a killed save left half-written.</summary>
    public static void Prune(string runDir, int keep)
    {
        var root = Path.Combine(runDir, "checkpoints");
        if (!Directory.Exists(root)) return;
        foreach (var d in Directory.GetDirectories(root, ".tmp-step_*"))
            try { Directory.Delete(d, recursive: true); } catch (IOException) { } // another process may be saving
        foreach (var d in Directory.GetDirectories(root, "step_*").OrderByDescending(d => d, StringComparer.Ordinal).Skip(keep))
            Directory.Delete(d, recursive: true);
    }

    public static TrainerState ReadState(string checkpointDir)
    {
        var path = Path.Combine(checkpointDir, StateFile);
        try
        {
            var state = JsonSerializer.Deserialize<TrainerState>(File.ReadAllText(path), TrainConfig.Json)
                        ?? throw new SeekSharpException($"{path}: empty trainer state.");
            state.Ledger?.Validate($"{path}: ledger");
            return state;
        }
        catch (JsonException e) { throw new SeekSharpException($"{path}: malformed trainer state: {e.Message}"); }
        catch (FileNotFoundException) { throw new SeekSharpException($"{path}: trainer state not found."); }
    }

    /// <summary>Restores weights and optimizer moments into an already-built model and optimizer.</summary>
    public static TrainerState Restore(string checkpointDir, Transformer model, AdamW optimizer)
    {
        ModelFiles.LoadWeights(model, checkpointDir);
        return RestoreOptimizer(checkpointDir, optimizer);
    }

    /// <summary>Restores the optimizer's moments and returns the trainer's counters; the caller has restored the weights
    /// (a LoRA checkpoint's model.safetensors holds the merged model, not what trains).</summary>
    public static TrainerState RestoreOptimizer(string checkpointDir, AdamW optimizer)
    {
        var state = ReadState(checkpointDir);
        var optPath = Path.Combine(checkpointDir, OptimizerFile);
        if (!File.Exists(optPath)) throw new SeekSharpException($"{optPath}: optimizer state not found.");
        var (tensors, meta) = Safetensors.LoadWithMetadata(optPath);
        if (!meta.TryGetValue("step", out var s) || !long.TryParse(s, out var step))
            throw new SeekSharpException($"{optPath}: metadata 'step' missing or not an integer.");
        int? started = meta.TryGetValue("started", out var n) && int.TryParse(n, out var count) ? count : null;
        optimizer.LoadState(tensors, step, optPath, started);
        return state;
    }
}
