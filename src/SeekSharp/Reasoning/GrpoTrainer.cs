using System.Diagnostics;
using System.Text.Json;
using SeekSharp.Alignment;
using SeekSharp.Checkpoints;
using SeekSharp.Data.Synthetic;
using SeekSharp.Inference;
using SeekSharp.IO;
using SeekSharp.Ledger;
using SeekSharp.Modeling;
using SeekSharp.Tokenization;
using SeekSharp.Training;
using static TorchSharp.torch;

namespace SeekSharp.Reasoning;

// GRPO (DeepSeekMath; the RL of DeepSeek-R1) on a model folder. Each step: the next P training prompts
// of the stream, G sampled completions each (RolloutSampler), rewards (RewardSet),
// group-relative advantages (GroupAdvantages), zero-variance groups dropped, then GrpoUpdate. The run
// stops after train.steps steps or, when minutes is set, once that much RL time (sampling + updates)
// has passed; held-out evaluations every eval_every steps are not counted in it, so a time budget buys
// the same RL with or without them. The output is a normal model folder (plus grpo_config.json,
// train_prompts.jsonl, metrics.jsonl, ledger.json, report.md and charts). Every train.checkpoint_every steps
// and at the end the run saves a checkpoint that --resume continues exactly (see GrpoCheckpoint).

/// <summary>What a finished GRPO run reports.</summary>
/// <param name="RolloutsSaved">Rollouts the curriculum skipped (groups predicted all right or all wrong); null without --curriculum.</param>
public sealed record GrpoResult(string OutDir, int Steps, double RlSeconds, double FirstReward, double LastReward,
    IReadOnlyList<(int Step, EvalResult Eval)> Evals, LedgerEntry Ledger, long? RolloutsSaved = null, long Rollouts = 0);

public static class GrpoTrainer
{
    public const string ConfigFile = "grpo_config.json";

    /// <param name="rewardOverride">Rewards to use instead of the configured ones (format + accuracy [+ reward model]).</param>
    public static GrpoResult Run(GrpoConfig config, ITrainingObserver? observer = null, RewardSet? rewardOverride = null)
    {
        var cfg = config.Validate();
        var tc = cfg.Train;
        if (cfg.Curriculum && cfg.Resume)
            throw new SeekSharpException("--resume: not supported with --curriculum (its pass-rate estimates are not checkpointed); start a fresh run.");
        var curriculum = cfg.Curriculum ? new Curriculum(cfg.GroupSize, tc.Seed) : null;
        long rolloutsDone = 0;
        var checkpoint = cfg.Resume ? GrpoCheckpoint.Find(cfg) : null;
        if (checkpoint is null) GrpoCheckpoint.PrepareFresh(cfg);
        var tok = BpeTokenizer.Load(cfg.ModelDir);
        var device = new Device(tc.Device);
        using var policy = ModelFiles.Load(cfg.ModelDir, device);
        policy.RefuseQuantizedTraining("reinforcement learning (chat rl)", cfg.ModelDir);
        if (tok.VocabSize != policy.Config.VocabSize)
            throw new SeekSharpException($"{cfg.ModelDir}: tokenizer has {tok.VocabSize} tokens but config.json says vocab_size {policy.Config.VocabSize}.");
        TrainingPrecision.Apply(policy, tc.Precision);
        using var reference = cfg.Beta > 0 ? ModelFiles.Load(cfg.ModelDir, device) : null;
        if (reference is not null)
        {
            TrainingPrecision.Apply(reference, tc.Precision).eval();
            foreach (var p in reference.parameters()) p.requires_grad = false;
        }
        using var rm = cfg.RewardModelDir is null || rewardOverride is not null ? null : RewardModel.Load(cfg.RewardModelDir, device);
        var rewards = rewardOverride ?? RewardSet.RuleBased(cfg.FormatWeight);
        if (rm is not null) rewards = rewards.With(new RewardModelReward(rm), cfg.RewardModelWeight);

        void Say(string m) => observer?.OnMessage(m);
        using var prompts = TaskSource.Training(cfg.Task, tc.Seed, Say).GetEnumerator();
        var heldOut = PeriodicEvalSet(cfg);
        var evalOptions = new EvalOptions(Samples: 1, K: 1, Temperature: 0, MaxTokens: cfg.MaxTokens);

        using var optimizer = new AdamW(policy.named_parameters(), tc);
        var resumed = checkpoint is null ? null : GrpoCheckpoint.Restore(checkpoint, cfg, policy, optimizer);
        var state = resumed?.State ?? new TrainerState { Train = tc };
        double rlSeconds = resumed?.Run.RlSeconds ?? 0;
        bool Done(int steps) => steps >= tc.Steps || (cfg.Minutes > 0 && rlSeconds >= cfg.Minutes * 60);
        if (resumed is not null && Done(state.Step) && File.Exists(Path.Combine(cfg.OutDir, "ledger.json")))
            throw new SeekSharpException($"{cfg.OutDir}: the run already finished at step {state.Step}; pass a larger --steps or --minutes to continue it.");
        if (resumed is not null) Say($"resuming from {Path.GetFileName(checkpoint)} (step {state.Step}, {rlSeconds / 60:F1} RL minutes).");

        var update = new GrpoUpdate(policy, reference, optimizer, cfg, tok.PadId, device);
        var sampler = new RolloutSampler(policy, tok, cfg.RolloutRows);
        AtomicFile.WriteAllText(Path.Combine(cfg.OutDir, ConfigFile), JsonSerializer.Serialize(cfg, GrpoConfig.Json));
        using var metrics = MetricsLog.Open(Path.Combine(cfg.OutDir, MetricsLog.FileName));
        using var ledger = RunLedger.Continue("grpo", HardwareProfile.Resolve(cfg.HardwareProfilePath), resumed?.State.Ledger, cfg.OutDir, checkpoint);
        var cost = ModelCost.Of(policy.Config);

        var evals = resumed?.Evals ?? [];
        EvalResult? Evaluate(int step)
        {
            if (heldOut is null) return null;
            var r = Evaluation.Run(policy, tok, heldOut, evalOptions);
            evals.Add((step, r));
            Say($"step {step}: held-out pass@1 {r.PassAt1:P1} (greedy, {r.Problems} problems), format {r.FormatRate:P0}, {r.MeanTokens:F0} tokens");
            return r;
        }
        if (resumed is null && heldOut is not null && Evaluate(0) is { } e0) metrics.Append(EvalRecord(0, e0));

        var used = new List<SyntheticProblem>();
        for (int s = 0; s < state.Step; s++) used.AddRange(Next(prompts, cfg.PromptsPerStep)); // the prompts the checkpoint has seen
        long drawn = used.Count * (curriculum is null ? 1L : Curriculum.Candidates);
        var rewardHistory = resumed?.Rewards ?? [];
        var clock = Stopwatch.StartNew();
        double elapsedBefore = state.ElapsedSeconds;
        long tokensSeen = state.TokensSeen;
        double lastLoss = state.LastLoss;
        int step = state.Step, saved = resumed is null ? -1 : step;
        void Checkpoint()
        {
            state = state with { Step = step, TokensSeen = tokensSeen, ElapsedSeconds = elapsedBefore + clock.Elapsed.TotalSeconds, LastLoss = lastLoss };
            GrpoCheckpoint.Save(cfg, policy, optimizer, state, rlSeconds, ledger);
            saved = step;
        }
        observer?.OnStart(step, tc.Steps);
        while (!Done(step))
        {
            var t0 = clock.Elapsed.TotalSeconds;
            List<SyntheticProblem> problems;
            int skippedNow = 0;
            if (curriculum is null) problems = Next(prompts, cfg.PromptsPerStep);
            else (problems, skippedNow) = curriculum.Choose(Next(prompts, cfg.PromptsPerStep * Curriculum.Candidates), cfg.PromptsPerStep, step);
            drawn += curriculum is null ? problems.Count : cfg.PromptsPerStep * Curriculum.Candidates;
            used.AddRange(problems);
            long decodedBefore = sampler.DecodedTokens;
            var rollouts = sampler.Sample(problems, cfg.GroupSize, cfg.MaxTokens, new SamplingOptions(cfg.Temperature, 1.0),
                GroupGenerator.RowSeed(tc.Seed, step, 0));
            double sampleSeconds = clock.Elapsed.TotalSeconds - t0;

            var scores = rewards.Score(rollouts.Select(r => r.Rollout).ToList());
            rolloutsDone += rollouts.Count;
            if (curriculum is not null)
            {
                curriculum.Observe(problems, scores.ByName.TryGetValue(AccuracyReward.RewardName, out var correct) ? correct : scores.Total);
                ledger.AddRolloutsSaved((long)skippedNow * cfg.GroupSize);
            }
            var adv = GroupAdvantages.Compute(scores.Total, cfg.GroupSize, scaleByStd: cfg.Loss == LossAggregation.Grpo);
            var keep = Enumerable.Range(0, rollouts.Count).Where(i => !adv.ZeroVariance[i / cfg.GroupSize]).ToList();
            double lr = LrSchedule.At(step, tc);
            var stats = update.Run(keep.Select(i => rollouts[i]).ToList(), keep.Select(i => adv.Advantages[i]).ToList(), lr);
            step++;
            lastLoss = stats.Loss;
            double stepSeconds = clock.Elapsed.TotalSeconds - t0;
            rlSeconds += stepSeconds;

            long generated = rollouts.Sum(r => (long)r.Rollout.Tokens);
            tokensSeen += generated;
            ledger.AddTokens(generated + stats.TrainedTokens);
            ledger.AddFlops(cost.ForwardFlopsPerToken * (sampler.DecodedTokens - decodedBefore)
                            + cost.TrainingFlopsPerToken * stats.TrainedTokens
                            + (reference is null ? 0 : cost.ForwardFlopsPerToken * stats.TrainedTokens / cfg.Mu));
            double meanReward = scores.Total.Average();
            rewardHistory.Add(meanReward);

            var record = new Dictionary<string, object?>
            {
                ["step"] = step, ["loss"] = stats.Loss, ["lr"] = lr, ["grad_norm"] = stats.GradNorm, ["reward"] = meanReward,
                ["reward_std"] = Std(scores.Total),
                ["accuracy"] = scores.ByName.TryGetValue(AccuracyReward.RewardName, out var acc) ? acc.Average() : double.NaN,
                ["completion_tokens"] = rollouts.Average(r => r.Rollout.Tokens),
                ["truncated"] = rollouts.Average(r => r.Rollout.Finished ? 0.0 : 1.0),
                ["zero_variance_groups"] = adv.ZeroVariance.Count(z => z), ["groups"] = problems.Count,
                ["sample_seconds"] = sampleSeconds, ["step_seconds"] = stepSeconds, ["rl_seconds"] = rlSeconds,
                ["tokens_per_second"] = generated / Math.Max(stepSeconds, 1e-9),
                ["sample_tokens_per_second"] = generated / Math.Max(sampleSeconds, 1e-9),
                ["tokens"] = tokensSeen, ["elapsed_seconds"] = elapsedBefore + clock.Elapsed.TotalSeconds,
            };
            foreach (var (name, s) in scores.ByName) record["reward/" + name] = s.Average();
            if (curriculum is not null)
            {
                record["curriculum_skipped_groups"] = skippedNow;
                record["rollouts_saved"] = curriculum.RolloutsSaved;
            }
            if (keep.Count > 0) // a step whose groups all had zero variance made no update: nothing to measure
            {
                record["kl"] = stats.Kl; record["clip_fraction"] = stats.ClipFraction; record["entropy"] = stats.Entropy;
            }
            int total = EstimatedSteps(cfg, step, rlSeconds);
            bool last = step >= total;
            if (heldOut is not null && (last || step % cfg.EvalEvery == 0) && Evaluate(step) is { } ev)
                foreach (var (k, v) in EvalRecord(step, ev)) record[k] = v;
            metrics.Append(record);
            if (tc.CheckpointEvery > 0 && step % tc.CheckpointEvery == 0) Checkpoint();
            observer?.OnStep(new StepMetrics(step, total, stats.Loss, 0, lr, stats.GradNorm, stepSeconds,
                generated / Math.Max(stepSeconds, 1e-9), tokensSeen, rlSeconds, null, null)
            {
                Summary = $"reward {meanReward:F2} acc {(double)record["accuracy"]!:P0} len {(double)record["completion_tokens"]!:F0} zero-var {adv.ZeroVariance.Count(z => z)}/{problems.Count}",
            });
        }
        if (heldOut is not null && (evals.Count == 0 || evals[^1].Item1 != step) && Evaluate(step) is { } end)
            metrics.Append(EvalRecord(step, end));
        // The last step is saved too, so a kill while the model is written finishes from here rather than redoing steps.
        if (tc.CheckpointEvery > 0 && saved != step) Checkpoint();

        ModelFiles.Save(cfg.OutDir, policy, tokenizerFrom: cfg.ModelDir);
        TrainingPrompts.WriteLineage(cfg.OutDir, cfg.ModelDir, used, "grpo");
        ledger.RecordData(TaskSource.LedgerOf(cfg.Task, drawn, used.Count, used.Sum(p => (long)sampler.EncodePrompt(p).Length)));
        ledger.RecordModelFolder(cfg.OutDir);
        var entry = ledger.Finish();
        entry.Write(Path.Combine(cfg.OutDir, "ledger.json"));
        metrics.Dispose();
        Reports.GrpoReport.Write(cfg.OutDir, "GRPO");
        int window = Math.Max(1, Math.Min(10, rewardHistory.Count / 4));
        return new GrpoResult(cfg.OutDir, step, rlSeconds, Mean(rewardHistory.Take(window)), Mean(rewardHistory.TakeLast(window)), evals, entry,
            curriculum?.RolloutsSaved, rolloutsDone);
    }

    static List<SyntheticProblem> Next(IEnumerator<SyntheticProblem> source, int count)
    {
        var list = new List<SyntheticProblem>(count);
        while (list.Count < count && source.MoveNext()) list.Add(source.Current);
        if (list.Count == 0) throw new SeekSharpException("the prompt source ran out of problems.");
        return list;
    }

    /// <summary>Steps the run will take: train.steps, or fewer when the clock will stop it first.</summary>
    static int EstimatedSteps(GrpoConfig cfg, int done, double rlSeconds)
    {
        if (cfg.Minutes == 0) return cfg.Train.Steps;
        double left = cfg.Minutes * 60 - rlSeconds;
        if (left <= 0) return done;
        return (int)Math.Min(cfg.Train.Steps, done + Math.Ceiling(left / (rlSeconds / done)));
    }

    /// <summary>The held-out problems for periodic evaluation, or null when off (or the task has no held-out set).</summary>
    static List<SyntheticProblem>? PeriodicEvalSet(GrpoConfig cfg)
    {
        if (cfg.EvalEvery == 0) return null;
        if (!TaskSource.IsFile(cfg.Task)) return HeldOut.Problems(SyntheticTasks.Get(cfg.Task), cfg.EvalCount);
        var first = SyntheticData.Read(cfg.Task).FirstOrDefault()?.Problem;
        return first is not null && SyntheticTasks.Ids.Contains(first.Task) ? HeldOut.Problems(SyntheticTasks.Get(first.Task), cfg.EvalCount) : null;
    }

    static Dictionary<string, object?> EvalRecord(int step, EvalResult e) => new()
    {
        ["step"] = step, ["heldout_pass_at_1"] = e.PassAt1, ["heldout_format"] = e.FormatRate, ["heldout_tokens"] = e.MeanTokens,
        ["heldout_seconds"] = e.Seconds,
    };

    static double Mean(IEnumerable<double> xs) => xs.DefaultIfEmpty(double.NaN).Average();

    static double Std(double[] xs)
    {
        double m = xs.Average();
        return Math.Sqrt(xs.Sum(x => (x - m) * (x - m)) / xs.Length);
    }
}
