using System.Diagnostics;
using SeekSharp.Ledger;

namespace SeekSharp.Training;

// The outer loop the fine-tuning stages share (SFT, reward model): learning-rate schedule, timing,
// validation every eval_every steps and at the end, one metrics.jsonl record per step, the ledger's
// tokens and FLOPs, and the observer (progress bar). What a step and an evaluation compute is the
// caller's; extra figures (accuracy, margin...) go into the same record.

/// <summary>What one step of a fine-tuning loop did.</summary>
/// <param name="Tokens">Tokens processed (for throughput and the ledger).</param>
/// <param name="Extra">Further figures for the metrics record, e.g. "accuracy".</param>
public sealed record LoopStep(StepOutcome Outcome, long Tokens, IReadOnlyDictionary<string, double>? Extra = null);

/// <summary>A validation result: the loss and further figures (recorded with a "val_" prefix).</summary>
public sealed record LoopEval(double Loss, IReadOnlyDictionary<string, double>? Extra = null);

/// <summary>What the loop reports at the end.</summary>
public sealed record LoopResult(double FinalLoss, LoopEval? FinalEval, long Tokens, double Seconds)
{
    public double TokensPerSecond => Tokens / Math.Max(Seconds, 1e-9);
}

public static class StepLoop
{
    /// <param name="step">Runs optimizer step s (0-based) at learning rate lr.</param>
    /// <param name="evaluate">Validation, or null when there is no held-out data.</param>
    /// <param name="flopsPerToken">Model FLOPs per processed token, for the ledger.</param>
    public static LoopResult Run(TrainConfig tc, MetricsLog metrics, RunLedger ledger, double flopsPerToken, ITrainingObserver? observer,
        Func<int, double, LoopStep> step, Func<LoopEval>? evaluate)
    {
        var clock = Stopwatch.StartNew();
        long tokens = 0;
        double lastLoss = double.NaN;
        LoopEval? lastEval = null;
        observer?.OnStart(0, tc.Steps);
        for (int s = 0; s < tc.Steps; s++)
        {
            var t0 = clock.Elapsed.TotalSeconds;
            double lr = LrSchedule.At(s, tc);
            var r = step(s, lr);
            int done = s + 1;
            LoopEval? eval = null;
            if (evaluate is not null && (done == tc.Steps || (tc.EvalEvery > 0 && done % tc.EvalEvery == 0)))
                lastEval = eval = evaluate();
            double seconds = clock.Elapsed.TotalSeconds - t0;
            tokens += r.Tokens;
            lastLoss = r.Outcome.Loss;
            ledger.AddTokens(r.Tokens);
            ledger.AddFlops(flopsPerToken * r.Tokens);

            var m = new StepMetrics(done, tc.Steps, r.Outcome.Loss, r.Outcome.AuxLoss, lr, r.Outcome.GradNorm, seconds,
                r.Tokens / Math.Max(seconds, 1e-9), tokens, clock.Elapsed.TotalSeconds, eval?.Loss,
                r.Outcome.ExpertLoad.Count > 0 ? r.Outcome.ExpertLoad : null);
            var record = m.ToRecord();
            if (r.Extra is not null) foreach (var (k, v) in r.Extra) record[k] = v;
            if (eval?.Extra is not null) foreach (var (k, v) in eval.Extra) record["val_" + k] = v;
            metrics.Append(record);
            observer?.OnStep(m);
        }
        return new LoopResult(lastLoss, lastEval, tokens, clock.Elapsed.TotalSeconds);
    }
}
