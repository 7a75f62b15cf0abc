using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using SeekSharp.Alignment;
using SeekSharp.Checkpoints;
using SeekSharp.Ledger;
using SeekSharp.Modeling;
using SeekSharp.Training;
using static TorchSharp.torch;

namespace SeekSharp.Reasoning;

// GRPO's resumable checkpoints are TrainingCheckpoint's folders (weights and AdamW moments, assembled under a
// temporary name and renamed; trainer_state.json last). No random state needs saving: a step's prompts are the
// next P of a stream seeded by the run's seed, so a resumed run draws and skips the ones already used, and a
// step's completions are sampled with generators seeded by (seed, step) (GroupGenerator.RowSeed). What else the
// future depends on, the RL seconds already spent (the --minutes budget), rides in trainer_state.json's
// "stage" object, beside the bill so far that every checkpoint carries. metrics.jsonl is cut back to the checkpoint's step, and its records give
// back the reward history and the held-out evaluations that the result reports.

/// <summary>GRPO's part of trainer_state.json.</summary>
sealed record GrpoRunState
{
    [JsonPropertyName("rl_seconds")] public double RlSeconds { get; init; }
}

/// <summary>Where a resumed GRPO run picks up.</summary>
sealed record GrpoResumePoint(TrainerState State, GrpoRunState Run, List<double> Rewards, List<(int Step, EvalResult Eval)> Evals);

static class GrpoCheckpoint
{
    /// <summary>Settings a resumed run may change: how long it runs, how often it saves, where it runs.</summary>
    const string Changeable = "--steps, --minutes, --checkpoint-every and --device";

    /// <summary>A fresh run's output folder: refused when it holds a run already (resumable or finished).</summary>
    public static void PrepareFresh(GrpoConfig cfg)
    {
        TrainingCheckpoint.RefuseExisting(cfg.OutDir);
        FineTuning.PrepareOutput(cfg.ModelDir, cfg.OutDir);
    }

    /// <summary>The checkpoint --resume continues from, after checking that <paramref name="cfg"/> is the same run as the one saved.</summary>
    public static string Find(GrpoConfig cfg)
    {
        var ckpt = TrainingCheckpoint.LatestForResume(cfg.OutDir);
        var path = Path.Combine(cfg.OutDir, GrpoTrainer.ConfigFile);
        GrpoConfig saved;
        try
        {
            saved = JsonSerializer.Deserialize<GrpoConfig>(File.ReadAllText(path), GrpoConfig.Json)
                    ?? throw new SeekSharpException($"{path}: empty GRPO config.");
        }
        catch (JsonException e) { throw new SeekSharpException($"{path}: malformed GRPO config: {e.Message}"); }
        catch (FileNotFoundException) { throw new SeekSharpException($"{path}: not found (a run folder keeps the settings it was started with)."); }
        var diff = Differences(Comparable(saved), Comparable(cfg), "").ToList();
        if (diff.Count > 0)
            throw new SeekSharpException($"{cfg.OutDir}: --resume with settings that differ from the run's {GrpoTrainer.ConfigFile} ({string.Join("; ", diff)}); "
                + $"give the run's settings again (only {Changeable} may change).");
        return ckpt;
    }

    /// <summary>Restores weights and moments into <paramref name="policy"/> and <paramref name="optimizer"/>, and cuts metrics.jsonl back to the checkpoint.</summary>
    public static GrpoResumePoint Restore(string ckpt, GrpoConfig cfg, Transformer policy, AdamW optimizer)
    {
        var state = TrainingCheckpoint.Restore(ckpt, policy, optimizer);
        GrpoRunState run;
        try { run = state.Stage?.Deserialize<GrpoRunState>(HardwareProfile.Json) ?? throw new JsonException("\"stage\" is missing"); }
        catch (JsonException e) { throw new SeekSharpException($"{ckpt}: not a GRPO checkpoint: {e.Message}"); }

        var metricsPath = Path.Combine(cfg.OutDir, MetricsLog.FileName);
        MetricsLog.TruncateAfterStep(metricsPath, state.Step);
        var rewards = new List<double>();
        var evals = new List<(int, EvalResult)>();
        foreach (var r in File.Exists(metricsPath) ? MetricsLog.Read(metricsPath) : [])
        {
            int step = (int)r["step"]!;
            if (r["reward"] is { } reward) rewards.Add((double)reward);
            if (r["heldout_pass_at_1"] is { } pass)
                evals.Add((step, new EvalResult
                {
                    Problems = cfg.EvalCount, Samples = 1, K = 1, PassAt1 = (double)pass, PassAtK = (double)pass,
                    FormatRate = (double)r["heldout_format"]!, MeanTokens = (double)r["heldout_tokens"]!, Seconds = (double)r["heldout_seconds"]!,
                }));
        }
        return new GrpoResumePoint(state, run, rewards, evals);
    }

    /// <summary>Saves step <paramref name="state"/>.Step and keeps the newest train.keep_checkpoints.</summary>
    public static void Save(GrpoConfig cfg, Transformer policy, AdamW optimizer, TrainerState state, double rlSeconds, RunLedger ledger)
    {
        var run = new GrpoRunState { RlSeconds = rlSeconds };
        ledger.RecordStorage(TrainingCheckpoint.Save(cfg.OutDir, policy, optimizer,
            state with { Ledger = ledger.Snapshot(), Stage = JsonSerializer.SerializeToNode(run, HardwareProfile.Json)!.AsObject() },
            tokenizerDir: cfg.ModelDir), StorageKind.Checkpoint); // a model folder like every checkpoint (tokenizer, and its ids in config.json)
        TrainingCheckpoint.Prune(cfg.OutDir, cfg.Train.KeepCheckpoints);
    }

    /// <summary>The settings that decide what a run computes, paths made absolute.</summary>
    static JsonNode Comparable(GrpoConfig c)
    {
        static string? Full(string? p) => string.IsNullOrEmpty(p) ? p : Path.GetFullPath(p);
        return JsonSerializer.SerializeToNode(c with
        {
            ModelDir = Full(c.ModelDir)!, OutDir = "", Minutes = 0, RewardModelDir = Full(c.RewardModelDir),
            Task = TaskSource.IsFile(c.Task) ? Full(c.Task)! : c.Task,
            Train = c.Train with { Steps = 0, CheckpointEvery = 0, KeepCheckpoints = 1, Device = "" },
        }, GrpoConfig.Json)!;
    }

    static IEnumerable<string> Differences(JsonNode? saved, JsonNode? now, string path)
    {
        if (saved is JsonObject a && now is JsonObject b)
        {
            foreach (var key in a.Select(p => p.Key).Union(b.Select(p => p.Key)))
                foreach (var d in Differences(a[key], b[key], path.Length == 0 ? key : $"{path}.{key}"))
                    yield return d;
        }
        else if (!JsonNode.DeepEquals(saved, now))
            yield return $"{path}: {saved?.ToJsonString() ?? "null"} in the run, {now?.ToJsonString() ?? "null"} now";
    }
}
