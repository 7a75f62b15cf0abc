using System.Diagnostics;
using SeekSharp.Data;
using SeekSharp.Ledger;
using SeekSharp.Modeling;

namespace SeekSharp.Training;

// `seek bench race`: several presets pretrained in one process on the same batches, compared on loss against
// each model's own training seconds (docs/decisions/0017-bench-race.md). The choices:
// - One PretrainModel per preset, so each trains exactly as `seek base train` would train it; batch s is drawn
//   from the step number alone, so every model's step s sees the same tokens (the batch hash in race.jsonl
//   shows it).
// - Each model gets the whole budget (--minutes) of its own step time. The next step goes to the model with
//   the least step time so far, so the models advance through their budgets together and a slow phase of a
//   noisy machine falls on all of them alike; a faster model takes more (and further) steps in its budget.
// - The cosine schedule needs a step count: each model's is fixed once its warmup steps (at least 4) have
//   run, from their mean step time (the first step, with its one-off allocations, left out) and the budget
//   left. Warmup does not depend on the horizon. A model then runs exactly its horizon, so each ends its decay.
// - A preset whose vocabulary is larger than the data's is trained at the data's, as `seek base train` does; data
//   with a larger vocabulary than a preset's is refused (its ids would be out of range).
// - Validation on the same windows of the val split before the first step, every --eval-every of the model's
//   own steps and after its last; evaluation time is not step time. race.jsonl gets a line per evaluation,
//   flushed at once, so an interrupted race leaves every finished evaluation readable.
// - The figure: the seconds each model needed to reach the first model's final val loss (linear between
//   evaluations), and its ratio to the first model's own time to that loss.

/// <summary>A contestant: the preset's name and its config.</summary>
public sealed record RaceModel(string Name, ModelConfig Config);

/// <summary>What to race, on what, for how long, and where the files go.</summary>
/// <param name="Minutes">Minutes of its own step time each model gets.</param>
/// <param name="Train">Batch size, sequence length, precision, lr, warmup, eval_every, eval_batches, seed as in `seek base train`; steps is derived.</param>
/// <param name="CommandLine">The command that started the race, for race.md.</param>
public sealed record RaceOptions(IReadOnlyList<RaceModel> Models, string DataDir, string OutDir, double Minutes, TrainConfig Train,
    string? HardwareProfilePath = null, string CommandLine = "");

/// <summary>One evaluation of one model (a line of race.jsonl).</summary>
/// <param name="Seconds">Wall seconds of the model's own steps so far.</param>
/// <param name="BatchHash">FNV-1a of every input id the model has trained on, in order.</param>
/// <param name="Horizon">The model's schedule length, once fixed.</param>
public sealed record RacePoint(string Preset, int Step, double Seconds, long Tokens, double ValLoss, double? TrainLoss, string BatchHash, int? Horizon);

/// <summary>A model's result.</summary>
/// <param name="ReachSeconds">Own step seconds to reach the first model's final val loss; null: not reached.</param>
/// <param name="StateBytes">Weights, gradients and AdamW moments.</param>
public sealed record RaceEntry(string Preset, long TotalParams, long ActiveParams, int Steps, long Tokens, double Seconds,
    double FinalValLoss, double? ReachSeconds, double? Ratio, long StateBytes, IReadOnlyList<RacePoint> Curve)
{
    public double TokensPerSecond => Tokens / Math.Max(Seconds, 1e-9);
}

/// <summary>The race: entries in the order given, the first model's final val loss as the target.</summary>
public sealed record RaceResult(IReadOnlyList<RaceEntry> Entries, double TargetLoss, long PeakRssBytes, int BatchSize, int SeqLen,
    double Minutes, string OutDir, string CommandLine, LedgerEntry Ledger);

public static class Race
{
    public const string LogFile = "race.jsonl";

    /// <summary>Steps run before a model's schedule length is fixed from their speed (its warmup, if longer).</summary>
    public const int MinProbeSteps = 4;

    /// <summary>The presets of a comma-separated list: two or more, each known and named once.</summary>
    public static IReadOnlyList<RaceModel> ParsePresets(string list)
    {
        var names = list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (names.Length < 2) throw new SeekSharpException($"--presets: a race needs two or more presets separated by commas, got '{list}'.");
        if (names.GroupBy(n => n).FirstOrDefault(g => g.Count() > 1) is { } twice)
            throw new SeekSharpException($"--presets: '{twice.Key}' is named twice; each preset races once.");
        return names.Select(n =>
        {
            try { return new RaceModel(n, Presets.Get(n)); }
            catch (SeekSharpException e) { throw new SeekSharpException($"--presets: {e.Message}"); }
        }).ToList();
    }

    /// <summary>The first time a loss curve reaches <paramref name="target"/>, linear between points; null if it never does.</summary>
    /// <param name="curve">(seconds, loss) in time order.</param>
    public static double? ReachSeconds(IReadOnlyList<(double Seconds, double Loss)> curve, double target)
    {
        for (int i = 0; i < curve.Count; i++)
        {
            var (t, l) = curve[i];
            if (!(l <= target)) continue;
            if (i == 0 || !double.IsFinite(curve[i - 1].Loss)) return t;
            var (t0, l0) = curve[i - 1];
            return t0 + (t - t0) * (l0 - target) / (l0 - l);
        }
        return null;
    }

    public static RaceResult Run(RaceOptions o, ITrainingObserver? observer = null)
    {
        if (o.Models.Count < 2) throw new SeekSharpException("--presets: a race needs two or more presets.");
        if (!(o.Minutes > 0) || !double.IsFinite(o.Minutes)) throw new SeekSharpException($"--minutes: expected a number of minutes above 0, got {o.Minutes}.");
        var tc = o.Train with { Steps = 1 << 30 };   // the horizon, per model, comes from the budget (see the note above)
        tc.Validate("bench race");
        using var ds = OpenData(o.DataDir);
        var (models, seqLen) = Fit(o.Models, ds, tc, o.DataDir, observer);

        Directory.CreateDirectory(o.OutDir);
        var logPath = Path.Combine(o.OutDir, LogFile);
        MetricsLog.Reset(logPath);
        using var log = MetricsLog.Open(logPath);
        using var ledger = RunLedger.Start("bench-race", HardwareProfile.Resolve(o.HardwareProfilePath), runDir: o.OutDir);
        ledger.RecordData(o.DataDir);
        var train = new TokenBatchSampler(ds.Train);
        var val = new TokenBatchSampler(ds.Val);
        var racers = new List<Racer>();
        try
        {
            foreach (var m in models) racers.Add(new Racer(m, new PretrainModel(m.Config, tc, seqLen), tc, ModelCost.Of(m.Config, seqLen)));
            Loop(racers, train, val, o.Minutes * 60, log, ledger, observer);
            var target = racers[0].Curve[^1].ValLoss;
            var reach = racers.Select(r => ReachSeconds(r.Curve.Select(p => (p.Seconds, p.ValLoss)).ToList(), target)).ToList();
            var entries = racers.Select((r, i) => new RaceEntry(r.Model.Name, r.Cost.TotalParams, r.Cost.ActiveParams, r.Steps, r.Tokens, r.Seconds,
                r.Curve[^1].ValLoss, reach[i], reach[0] > 0 ? reach[i] / reach[0] : null, r.Run.StateBytes(), r.Curve)).ToList();
            ledger.RecordStorage(logPath, StorageKind.Report);
            var entry = ledger.Finish();
            entry.Write(Path.Combine(o.OutDir, "ledger.json"));
            return new RaceResult(entries, target, Process.GetCurrentProcess().PeakWorkingSet64, tc.BatchSize, seqLen, o.Minutes, o.OutDir, o.CommandLine, entry);
        }
        finally
        {
            foreach (var r in racers) r.Run.Dispose();
        }
    }

    /// <summary>The models as they will train (a vocabulary larger than the data's cut to it) and the sequence length,
    /// after checking that every preset fits the data.</summary>
    static (List<RaceModel> Models, int SeqLen) Fit(IReadOnlyList<RaceModel> presets, TokenDataset ds, TrainConfig tc, string dataDir,
        ITrainingObserver? observer)
    {
        int seqLen = tc.SeqLen == 0 ? presets.Min(m => m.Config.MaxPositionEmbeddings) : tc.SeqLen;
        foreach (var m in presets)
        {
            if (ds.VocabSize > m.Config.VocabSize)
                throw new SeekSharpException($"--data: {dataDir} has vocab_size {ds.VocabSize}, more than preset '{m.Name}''s {m.Config.VocabSize} (its token ids would be out of range).");
            if (seqLen > m.Config.MaxPositionEmbeddings)
                throw new SeekSharpException($"--seq-len: {seqLen} exceeds preset '{m.Name}''s context (max_position_embeddings {m.Config.MaxPositionEmbeddings}).");
        }
        var models = presets.Select(m => m.Config.VocabSize > ds.VocabSize ? m with { Config = m.Config with { VocabSize = ds.VocabSize } } : m).ToList();
        if (presets.Any(m => m.Config.VocabSize > ds.VocabSize))
            observer?.OnMessage($"vocab_size set to the data's {ds.VocabSize} where a preset had more (as `seek base train` does).");
        if (ds.ValTokens <= (long)tc.BatchSize * seqLen + 1)
            throw new SeekSharpException($"--data: {dataDir}: the validation split ({ds.ValTokens} tokens) is smaller than one batch of {tc.BatchSize}x{seqLen}; the race needs validation.");
        return (models, seqLen);
    }

    static TokenDataset OpenData(string dir)
    {
        if (!Directory.Exists(dir)) throw new SeekSharpException($"--data: {dir}: dataset folder not found (make one with `seek data prepare` or `seek data tokenize`).");
        try { return TokenDataset.Open(dir); }
        catch (SeekSharpException e) { throw new SeekSharpException($"--data: {e.Message}"); }
    }

    static void Loop(List<Racer> racers, TokenBatchSampler train, TokenBatchSampler val, double budget, MetricsLog log, RunLedger ledger,
        ITrainingObserver? observer)
    {
        var wall = Stopwatch.StartNew();
        foreach (var r in racers) Evaluate(r, val, log, wall);
        int done = 0;
        observer?.OnStart(0, racers.Sum(r => r.EstimatedSteps(budget)));
        while (racers.Where(r => !r.Done).MinBy(r => r.Seconds) is { } r)   // MinBy keeps the first of equals
        {
            double lr = LrSchedule.At(r.Steps, r.Train);
            var t0 = Stopwatch.GetTimestamp();
            var outcome = r.Run.Run(train, r.Steps, lr, r.Hash);
            double seconds = Stopwatch.GetElapsedTime(t0).TotalSeconds;
            r.Advance(seconds, outcome.Loss, budget);
            ledger.AddTokens(r.Run.TokensPerStep);
            ledger.AddFlops(r.Cost.PretrainingFlopsPerToken * r.Run.TokensPerStep);
            int every = r.Train.EvalEvery;
            double? valLoss = r.Done || (every > 0 && r.Steps % every == 0) ? Evaluate(r, val, log, wall) : null;
            done++;
            int total = racers.Sum(x => x.EstimatedSteps(budget));
            observer?.OnStep(new StepMetrics(done, total, outcome.Loss, outcome.AuxLoss, lr, outcome.GradNorm, seconds,
                racers.Sum(x => x.Tokens) / Math.Max(racers.Sum(x => x.Seconds), 1e-9), racers.Sum(x => x.Tokens), wall.Elapsed.TotalSeconds, valLoss, null)
            {
                Summary = string.Join(" · ", racers.Select(x => $"{x.Model.Name} {x.Steps}/{x.EstimatedSteps(budget)} val {x.Curve[^1].ValLoss:F3}")),
            });
        }
    }

    static double Evaluate(Racer r, TokenBatchSampler val, MetricsLog log, Stopwatch wall)
    {
        double loss = r.Run.Evaluate(val);
        var p = new RacePoint(r.Model.Name, r.Steps, r.Seconds, r.Tokens, loss, r.Steps > 0 ? r.LastLoss : null, r.HashText, r.Horizon);
        r.Curve.Add(p);
        log.Append(new Dictionary<string, object?>
        {
            ["preset"] = p.Preset, ["step"] = p.Step, ["seconds"] = p.Seconds, ["tokens"] = p.Tokens, ["val_loss"] = p.ValLoss,
            ["train_loss"] = p.TrainLoss, ["tokens_per_second"] = p.Tokens / Math.Max(p.Seconds, 1e-9), ["batch_hash"] = p.BatchHash,
            ["horizon"] = p.Horizon, ["wall_seconds"] = wall.Elapsed.TotalSeconds,
        });
        return loss;
    }

    /// <summary>One model's progress through its budget.</summary>
    sealed class Racer(RaceModel model, PretrainModel run, TrainConfig tc, ModelCost cost)
    {
        ulong hash = 14695981039346656037UL;   // FNV-1a offset basis
        double firstStepSeconds;

        public RaceModel Model { get; } = model;
        public PretrainModel Run { get; } = run;
        public ModelCost Cost { get; } = cost;
        public TrainConfig Train { get; private set; } = tc;
        public int Steps { get; private set; }
        public long Tokens { get; private set; }
        public double Seconds { get; private set; }
        public double LastLoss { get; private set; }
        public int? Horizon { get; private set; }
        public List<RacePoint> Curve { get; } = [];
        public bool Done => Horizon is { } h && Steps >= h;
        public string HashText => hash.ToString("x16");
        int ProbeSteps => Math.Max(Train.WarmupSteps, MinProbeSteps);

        public void Hash(long[] ids)
        {
            foreach (var id in ids) hash = (hash ^ (ulong)id) * 1099511628211UL;
        }

        public void Advance(double seconds, double loss, double budget)
        {
            if (Steps == 0) firstStepSeconds = seconds;
            Steps++;
            Tokens += Run.TokensPerStep;
            Seconds += seconds;
            LastLoss = loss;
            if (Horizon is null && Steps == ProbeSteps)
            {
                double mean = (Seconds - firstStepSeconds) / (ProbeSteps - 1);
                Horizon = ProbeSteps + (int)Math.Clamp(Math.Floor((budget - Seconds) / Math.Max(mean, 1e-9)), 0, int.MaxValue / 2);
                Train = Train with { Steps = Horizon.Value };
            }
        }

        /// <summary>The horizon once fixed; before, the budget at the speed so far.</summary>
        public int EstimatedSteps(double budget) =>
            Horizon ?? Math.Max(ProbeSteps, Steps == 0 ? ProbeSteps : (int)Math.Min(int.MaxValue / 4, budget * Steps / Math.Max(Seconds, 1e-9)));
    }
}
