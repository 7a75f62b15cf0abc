using System.Diagnostics;
using SeekSharp.Checkpoints;
using SeekSharp.Ledger;

namespace SeekSharp.Training;

// The outer loop every training stage shares (pretraining, SFT, reward model): learning-rate schedule,
// timing, validation every eval_every steps and at the end, one metrics.jsonl record per step, the
// ledger's tokens and FLOPs, the observer (progress bar), and resumable checkpoints every
// checkpoint_every steps and after the last. What a step, an evaluation and a checkpoint contain is the
// caller's; extra figures (accuracy, margin...) go into the same record.
// Resume: the loop starts at the checkpoint's step with its counters (tokens seen, elapsed seconds,
// last losses), and the metrics log is cut back to that step first (OpenMetrics), so every step appears
// once; the checkpoint carries the bill so far, which the caller's RunLedger.Continue takes up, so the
// final ledger.json covers the whole run. A run whose last checkpoint is its final step runs no step and returns the saved figures: the
// caller then writes the final model, which a kill between the two would otherwise have lost.

/// <summary>What one step of a training loop did.</summary>
/// <param name="Tokens">Tokens processed (for throughput and the ledger).</param>
/// <param name="Extra">Further figures for the metrics record, e.g. "accuracy".</param>
/// <param name="ExtraFlops">FLOPs spent beside the trained tokens' (online selection's scoring passes), billed in the ledger.</param>
public sealed record LoopStep(StepOutcome Outcome, long Tokens, IReadOnlyDictionary<string, double>? Extra = null, double ExtraFlops = 0);

/// <summary>A validation result: the loss and further figures (recorded with a "val_" prefix).</summary>
public sealed record LoopEval(double Loss, IReadOnlyDictionary<string, double>? Extra = null);

/// <summary>Where a loop starts and how it writes checkpoints.</summary>
/// <param name="Start">Counters restored from a checkpoint; a fresh run's are all zero.</param>
/// <param name="Save">Writes a resumable checkpoint holding these counters.</param>
public sealed record LoopCheckpoints(TrainerState Start, Action<TrainerState> Save);

/// <summary>What the loop reports at the end.</summary>
/// <param name="Tokens">Tokens processed by this process (a resumed run's share).</param>
/// <param name="Seconds">Wall seconds of this process's loop.</param>
/// <param name="State">The run's counters at the end (whole run, resumed parts included).</param>
public sealed record LoopResult(double FinalLoss, LoopEval? FinalEval, long Tokens, double Seconds, TrainerState State)
{
    public double TokensPerSecond => Tokens / Math.Max(Seconds, 1e-9);
}

public static class StepLoop
{
    /// <summary>Opens RUN/metrics.jsonl: a fresh run starts a new log (a run that died before its first checkpoint
    /// leaves lines no checkpoint stands for), a resumed one keeps the lines up to its checkpoint's step.</summary>
    public static MetricsLog OpenMetrics(string runDir, int resumeStep)
    {
        var path = Path.Combine(runDir, MetricsLog.FileName);
        if (resumeStep > 0) MetricsLog.TruncateAfterStep(path, resumeStep);
        else MetricsLog.Reset(path);
        return MetricsLog.Open(path);
    }

    /// <summary>Refuses to resume past the requested steps, and a finished run (its ledger.json, written last, is there):
    /// finishing again would replace that ledger with an empty one. A run at its last step without a ledger is finished by the resume.</summary>
    public static void CheckResumable(string runDir, string checkpoint, TrainerState state, TrainConfig tc)
    {
        if (state.Step > tc.Steps)
            throw new SeekSharpException($"{checkpoint}: run already reached step {state.Step}, past --steps {tc.Steps}; pass --steps {state.Step} or more.");
        if (state.Step == tc.Steps && File.Exists(Path.Combine(runDir, "ledger.json")))
            throw new SeekSharpException($"{runDir}: the run is finished (step {state.Step} of {tc.Steps}, ledger.json written); pass a larger --steps to continue it.");
    }

    /// <param name="step">Runs optimizer step s (0-based) at learning rate lr.</param>
    /// <param name="evaluate">Validation, or null when there is no held-out data.</param>
    /// <param name="flopsPerToken">Model FLOPs per processed token, for the ledger.</param>
    /// <param name="checkpoints">Resume point and checkpoint writer; null for a loop that neither resumes nor checkpoints.</param>
    public static LoopResult Run(TrainConfig tc, MetricsLog metrics, RunLedger ledger, double flopsPerToken, ITrainingObserver? observer,
        Func<int, double, LoopStep> step, Func<LoopEval>? evaluate, LoopCheckpoints? checkpoints = null)
    {
        var clock = Stopwatch.StartNew();
        var state = checkpoints?.Start ?? new TrainerState { Train = tc };
        if (state.Step > tc.Steps)
            throw new SeekSharpException($"the checkpoint is at step {state.Step}, past the {tc.Steps} steps asked for; pass --steps {state.Step} or more.");
        double elapsedBefore = state.ElapsedSeconds;
        long tokens = 0;
        double lastLoss = state.Step > 0 ? state.LastLoss : double.NaN;
        LoopEval? lastEval = state.LastValLoss is { } saved ? new LoopEval(saved, state.LastValExtra) : null;
        observer?.OnStart(state.Step, tc.Steps);
        for (int s = state.Step; s < tc.Steps; s++)
        {
            var t0 = clock.Elapsed.TotalSeconds;
            double lr = LrSchedule.At(s, tc);
            var r = step(s, lr);
            int done = s + 1;
            bool last = done == tc.Steps;
            LoopEval? eval = null;
            if (evaluate is not null && (last || (tc.EvalEvery > 0 && done % tc.EvalEvery == 0)))
                lastEval = eval = evaluate();
            double seconds = clock.Elapsed.TotalSeconds - t0;
            tokens += r.Tokens;
            lastLoss = r.Outcome.Loss;
            ledger.AddTokens(r.Tokens);
            ledger.AddFlops(flopsPerToken * r.Tokens + r.ExtraFlops);
            state = state with
            {
                Step = done, TokensSeen = state.TokensSeen + r.Tokens, LastLoss = lastLoss,
                LastValLoss = lastEval?.Loss, LastValExtra = lastEval?.Extra?.ToDictionary(),
                ElapsedSeconds = elapsedBefore + clock.Elapsed.TotalSeconds,
            };

            var m = new StepMetrics(done, tc.Steps, r.Outcome.Loss, r.Outcome.AuxLoss, lr, r.Outcome.GradNorm, seconds,
                r.Tokens / Math.Max(seconds, 1e-9), state.TokensSeen, state.ElapsedSeconds, eval?.Loss,
                r.Outcome.ExpertLoad.Count > 0 ? r.Outcome.ExpertLoad : null);
            var record = m.ToRecord();
            if (r.Extra is not null) foreach (var (k, v) in r.Extra) record[k] = v;
            if (eval?.Extra is not null) foreach (var (k, v) in eval.Extra) record["val_" + k] = v;
            metrics.Append(record);
            observer?.OnStep(m);

            if (checkpoints is not null && (last || (tc.CheckpointEvery > 0 && done % tc.CheckpointEvery == 0)))
                checkpoints.Save(state with { ElapsedSeconds = elapsedBefore + clock.Elapsed.TotalSeconds, Ledger = ledger.Snapshot() });
        }
        return new LoopResult(lastLoss, lastEval, tokens, clock.Elapsed.TotalSeconds, state);
    }
}
