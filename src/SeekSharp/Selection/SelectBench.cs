using System.Diagnostics;
using System.Text.Json;
using SeekSharp.Data;
using SeekSharp.Ledger;
using SeekSharp.Modeling;
using SeekSharp.Training;

namespace SeekSharp.Selection;

// `seek bench select`: does selection spend fewer tokens (and less wall time) to reach what random order reaches
// on a target distribution? One invocation, one machine, so every figure is a ratio measured under the same load.
// The pool's training documents are what every run trains on; the target dataset's validation split is what
// every run validates on (OUT/pool is the pool's train split with the target's val split), and the target's
// training split trains the RHO-LOSS reference (OUT/reference), so no document the runs are scored on is ever
// trained on. The baseline trains in random order and writes a checkpoint at --proxy-steps, the proxy learner
// that scores the pool for offline selection (`seek data select` with each score, keeping --keep-fraction); each
// selected dataset then trains a fresh model for the baseline's steps; online selection (`seek base train
// --select excess-loss`) trains on the pool with the reference. Every run is the one Pretrainer, with the same
// seed, schedule and evaluation. "To target" is the first evaluation at or below the baseline's final validation
// loss: its trained tokens, and its wall seconds plus what the method needed first (the proxy's steps, scoring,
// the reference's training), so a saving in tokens that selection's cost eats is shown as such.

public sealed record SelectBenchOptions
{
    public required string PoolDir { get; init; }
    public required string TargetDir { get; init; }
    public required string OutDir { get; init; }
    public required ModelConfig Model { get; init; }
    /// <summary>Every run's schedule: steps, batch, lr, evaluation (eval_every, eval_batches), seed, precision, device.</summary>
    public required TrainConfig Train { get; init; }
    public int ReferenceSteps { get; init; } = 200;
    public int ProxySteps { get; init; } = 50;
    public double KeepFraction { get; init; } = 0.5;
    public int SelectRatio { get; init; } = 2;
    /// <summary>Offline scores (loss, excess-loss, entropy) and "online" (excess loss inside the loop).</summary>
    public IReadOnlyList<string> Methods { get; init; } = ["loss", "excess-loss", "entropy", "online"];
    public string? HardwareProfilePath { get; init; }
}

/// <summary>One method's validation curve: (step, trained tokens, loop seconds, validation loss) at each evaluation.</summary>
public sealed record SelectCurve(string Method, IReadOnlyList<(int Step, long Tokens, double Seconds, double ValLoss)> Points,
    double PrepSeconds, string Prep, double Usd);

/// <summary>One row of the result: what the method needed to reach the target loss, and its ratios to the baseline.</summary>
public sealed record SelectBenchRow(string Method, long? TokensToTarget, double? SecondsToTarget, double PrepSeconds, string Prep,
    double FinalValLoss, double? TokenRatio, double? WallRatio, double Usd);

public sealed record SelectBenchResult(string OutDir, double TargetLoss, IReadOnlyList<SelectBenchRow> Rows, IReadOnlyList<SelectCurve> Curves,
    long PoolDocuments, long PoolTokens, long TargetTrainTokens, long TargetValTokens, double ReferenceValLoss);

public static class SelectBench
{
    public static readonly string[] AllMethods = ["loss", "excess-loss", "entropy", "online"];

    public static SelectBenchResult Run(SelectBenchOptions o, ITrainingObserver? observer = null)
    {
        Check(o);
        var tc = o.Train.Validate();
        Directory.CreateDirectory(o.OutDir);
        var pool = Path.Combine(o.OutDir, "pool");
        long poolDocs, poolTokens, targetTrain, targetVal;
        using (var p = TokenDataset.Open(o.PoolDir))
        using (var t = TokenDataset.Open(o.TargetDir))
        {
            if (p.TokenizerHash != t.TokenizerHash)
                throw new SeekSharpException($"{Path.Combine(o.TargetDir, DatasetManifest.FileName)}: --target was tokenized with {t.TokenizerHash}, --pool with {p.TokenizerHash}; tokenize both with one tokenizer.");
            if (t.ValTokens == 0 || t.TrainTokens == 0)
                throw new SeekSharpException($"{Path.Combine(o.TargetDir, DatasetManifest.FileName)}: --target needs both splits (train for the reference, val to measure on).");
            var trainDocs = DocumentScorer.Documents(p.Train, p.BosId, o.PoolDir);
            var valDocs = DocumentScorer.Documents(t.Val, t.BosId, o.TargetDir);
            DataSelection.WriteDocuments(pool, p, valDocs.Select(d => DataSelection.Read(t.Val, d)), true,
                trainDocs.Select(d => DataSelection.Read(p.Train, d)), [o.PoolDir, o.TargetDir]);
            (poolDocs, poolTokens, targetTrain, targetVal) = (trainDocs.Count, p.TrainTokens, t.TrainTokens, t.ValTokens);
        }

        var curves = new List<SelectCurve>();
        string Dir(string name) => Path.Combine(o.OutDir, name);
        bool needReference = o.Methods.Contains("excess-loss") || o.Methods.Contains("online");
        double refSeconds = 0, refVal = double.NaN;
        if (needReference)
        {
            observer?.OnMessage($"reference: {o.ReferenceSteps} steps on the target's training split");
            var r = Train(o.TargetDir, Dir("reference"), o, tc with { Steps = o.ReferenceSteps, EvalEvery = 0 }, observer);
            (refSeconds, refVal) = (r.Ledger.WallSeconds, r.FinalValLoss ?? double.NaN);
        }
        observer?.OnMessage($"baseline: random order, {tc.Steps} steps");
        int proxy = Math.Min(o.ProxySteps, tc.Steps);
        var baseline = Train(pool, Dir("baseline"), o, tc with { CheckpointEvery = proxy, KeepCheckpoints = tc.Steps / proxy + 1 }, observer);
        curves.Add(Curve("random (baseline)", Dir("baseline"), 0, "", baseline.Ledger.Usd));
        var proxyDir = Path.Combine(Dir("baseline"), "checkpoints", $"step_{proxy:D6}");
        double proxySeconds = curves[0].Points.Where(q => q.Step <= proxy).Select(q => q.Seconds).DefaultIfEmpty(0).Max();

        foreach (var m in o.Methods)
        {
            if (m == "online")
            {
                observer?.OnMessage($"online: excess-loss selection, 1 of {o.SelectRatio} candidates");
                var r = Train(pool, Dir("run-online"), o, tc with { Select = "excess-loss", SelectRatio = o.SelectRatio }, observer, Dir("reference"));
                curves.Add(Curve($"online excess-loss (1/{o.SelectRatio})", Dir("run-online"), refSeconds, "reference training", r.Ledger.Usd + RefUsd(o)));
                continue;
            }
            observer?.OnMessage($"offline {m}: scoring the pool with the step-{proxy} proxy, keeping {o.KeepFraction * 100:G3}% of the documents");
            var selected = Dir($"select-{m}");
            var s = DataSelection.Run(new SelectOptions
            {
                ModelDir = proxyDir, DataDir = pool, OutDir = selected, KeepFraction = o.KeepFraction, Score = m,
                ReferenceDir = m == "excess-loss" ? Dir("reference") : null, Precision = tc.Precision == "fp32" ? "fp32" : "bf16", Device = tc.Device,
                HardwareProfilePath = o.HardwareProfilePath, Seed = tc.Seed,
            });
            var run = Train(selected, Dir($"run-{m}"), o, tc, observer);
            double prep = proxySeconds + s.Ledger.WallSeconds + (m == "excess-loss" ? refSeconds : 0);
            var what = $"proxy {proxy} steps + scoring {s.Ledger.WallSeconds:F0} s" + (m == "excess-loss" ? " + reference training" : "");
            double usd = run.Ledger.Usd + s.Ledger.Usd + baseline.Ledger.Usd * proxy / tc.Steps + (m == "excess-loss" ? RefUsd(o) : 0);
            curves.Add(Curve(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{m} top {o.KeepFraction * 100:G3}%"), Dir($"run-{m}"), prep, what, usd));
        }
        var target = curves[0].Points[^1].ValLoss;
        var rows = Rows(curves, target);
        var result = new SelectBenchResult(o.OutDir, target, rows, curves, poolDocs, poolTokens, targetTrain, targetVal, refVal);
        IO.AtomicFile.WriteAllText(Path.Combine(o.OutDir, "bench.json"), JsonSerializer.Serialize(new
        {
            target_loss = target, pool_documents = poolDocs, pool_tokens = poolTokens, target_train_tokens = targetTrain, target_val_tokens = targetVal,
            reference_val_loss = double.IsFinite(refVal) ? refVal : (double?)null,
            rows = rows.Select(r => new { method = r.Method, tokens_to_target = r.TokensToTarget, seconds_to_target = r.SecondsToTarget, prep_seconds = r.PrepSeconds,
                prep = r.Prep, final_val_loss = r.FinalValLoss, token_ratio = r.TokenRatio, wall_ratio = r.WallRatio, usd = r.Usd }),
        }, new JsonSerializerOptions { WriteIndented = true }) + "\n");
        return result;
    }

    static double RefUsd(SelectBenchOptions o) => LedgerEntry.Read(Path.Combine(o.OutDir, "reference", "ledger.json")).Usd;

    /// <summary>Each method's first evaluation at or below <paramref name="target"/>, and its ratios to the first curve's (the baseline).</summary>
    public static List<SelectBenchRow> Rows(IReadOnlyList<SelectCurve> curves, double target)
    {
        var rows = new List<SelectBenchRow>();
        (long Tokens, double Seconds)? base0 = null;
        foreach (var c in curves)
        {
            var hit = c.Points.Where(p => p.ValLoss <= target).Select(p => ((long, double)?)(p.Tokens, p.Seconds + c.PrepSeconds)).FirstOrDefault();
            base0 ??= hit;
            rows.Add(new SelectBenchRow(c.Method, hit?.Item1, hit?.Item2, c.PrepSeconds, c.Prep, c.Points[^1].ValLoss,
                hit is null || base0 is null ? null : (double)base0.Value.Tokens / hit.Value.Item1,
                hit is null || base0 is null ? null : base0.Value.Seconds / hit.Value.Item2, c.Usd));
        }
        return rows;
    }

    static PretrainResult Train(string data, string run, SelectBenchOptions o, TrainConfig tc, ITrainingObserver? observer, string? reference = null)
    {
        return Pretrainer.Run(new PretrainOptions(data, run, o.Model, tc, HardwareProfilePath: o.HardwareProfilePath, ReferenceDir: reference), observer);
    }

    static SelectCurve Curve(string method, string runDir, double prep, string what, double usd)
    {
        var points = MetricsLog.Read(Path.Combine(runDir, MetricsLog.FileName))
            .Where(r => r["val_loss"] is not null)
            .Select(r => ((int)(double)r["step"]!, (long)(double)r["tokens"]!, (double)r["elapsed_seconds"]!, (double)r["val_loss"]!)).ToList();
        if (points.Count == 0) throw new SeekSharpException($"{runDir}: no validation loss was logged; the target's val split is too small for one batch.");
        return new SelectCurve(method, points, prep, what, usd);
    }

    static void Check(SelectBenchOptions o)
    {
        foreach (var m in o.Methods)
            if (!AllMethods.Contains(m)) throw new SeekSharpException($"--methods: expected some of {string.Join(", ", AllMethods)}, got '{m}'.");
        if (o.Methods.Count == 0) throw new SeekSharpException("--methods: expected at least one method.");
        if (!(o.KeepFraction > 0 && o.KeepFraction <= 1)) throw new SeekSharpException($"--keep-fraction: expected a number in (0, 1], got {o.KeepFraction}.");
        if (o.SelectRatio is < 2 or > 64) throw new SeekSharpException($"--select-ratio: expected 2 to 64, got {o.SelectRatio}.");
        if (o.ReferenceSteps < 1) throw new SeekSharpException($"--reference-steps: expected 1 or more, got {o.ReferenceSteps}.");
        if (o.ProxySteps < 1) throw new SeekSharpException($"--proxy-steps: expected 1 or more, got {o.ProxySteps}.");
        if (File.Exists(o.OutDir) || (Directory.Exists(o.OutDir) && Directory.EnumerateFileSystemEntries(o.OutDir).Any()))
            throw new SeekSharpException($"--out {o.OutDir}: must be a new or empty folder (the bench writes pool/, reference/, baseline/, select-*/, run-*/ in it).");
        if (o.Train.EvalEvery < 1) throw new SeekSharpException($"--eval-every: expected 1 or more (the curves are what is compared), got {o.Train.EvalEvery}.");
    }
}
