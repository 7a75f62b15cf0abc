using SeekSharp.Checkpoints;
using SeekSharp.Ledger;
using SeekSharp.Reasoning;
using SeekSharp.Tests.Alignment;
using SeekSharp.Training;

namespace SeekSharp.Tests.Reasoning;

// A resumed GRPO run must compute what the uninterrupted one does: the same rewards, losses and final
// weights, step for step. Interruptions here are an exception thrown from the observer once a step's
// metrics are written (a checkpoint may or may not be behind it); GrpoKillTests kills a real process.
public class GrpoResumeTests(ChatModelFolder folder) : IClassFixture<ChatModelFolder>
{
    const int Steps = 6;

    /// <summary>The fraction of digits in the completion: a reward that varies within a group from the first step, so every step updates.</summary>
    sealed class DigitReward : IReward
    {
        public string Name => "digits";
        public double[] Score(IReadOnlyList<Rollout> rollouts) =>
            rollouts.Select(r => r.Text.Length == 0 ? 0.0 : r.Text.Count(char.IsAsciiDigit) / (double)r.Text.Length).ToArray();
    }

    static RewardSet Reward() => new([(new DigitReward(), 1.0)]);

    sealed class StopAt(int step) : ITrainingObserver
    {
        public void OnStep(StepMetrics m)
        {
            if (m.Step == step) throw new InvalidOperationException($"interrupted after step {step}");
        }
    }

    GrpoConfig Config(string outDir, int checkpointEvery) => new()
    {
        ModelDir = folder.ModelDir, OutDir = outDir, Task = "arithmetic", GroupSize = 4, PromptsPerStep = 2, MaxTokens = 4,
        Beta = 0.04, EvalEvery = 4, EvalCount = 2,
        Train = GrpoConfig.DefaultTrain with
        {
            Steps = Steps, LearningRate = 3e-2, WarmupSteps = 2, Precision = "fp32", Seed = 5, CheckpointEvery = checkpointEvery, KeepCheckpoints = 2,
        },
    };

    /// <summary>What must not change with an interruption: every figure of a step that is not a time.</summary>
    internal static List<string> Figures(string outDir) => MetricsLog.Read(Path.Combine(outDir, MetricsLog.FileName))
        .Select(r => string.Join(" ", r.Where(p => !p.Key.Contains("second")).OrderBy(p => p.Key, StringComparer.Ordinal)
            .Select(p => $"{p.Key}={p.Value?.ToJsonString()}")))
        .ToList();

    internal static void AssertSameWeights(string expectedDir, string actualDir)
    {
        using var a = ModelFiles.Load(expectedDir);
        using var b = ModelFiles.Load(actualDir);
        var expected = a.state_dict();
        foreach (var (name, t) in b.state_dict()) Assert.True(t.allclose(expected[name], 0, 0), $"{actualDir}: {name} differs");
    }

    [Fact]
    public void A_run_resumed_from_any_checkpoint_repeats_the_uninterrupted_run()
    {
        var whole = folder.NewDir();
        var full = GrpoTrainer.Run(Config(whole, checkpointEvery: 1), rewardOverride: Reward());
        var expected = Figures(whole);
        Assert.Equal(Steps + 1, expected.Count);                  // the step-0 evaluation, then one record per step
        Assert.Contains(expected, l => l.Contains("kl="));        // the policy was updated
        Assert.True(File.Exists(Path.Combine(TrainingCheckpoint.Folder(whole, Steps), "trainer_state.json"))); // the end is saved
        Assert.True(File.Exists(Path.Combine(TrainingCheckpoint.Folder(whole, Steps), ModelFiles.GenerationConfigFile))); // a model folder, tokenizer ids included

        // (checkpoint cadence, interrupted after step) -> resumes from steps 1, 2, 3, from 4 with step 5's record to cut off,
        // and from the last step's checkpoint with the model not yet written (the resumed run only finishes the folder).
        foreach (var (every, stop) in new[] { (1, 1), (1, 2), (1, 3), (2, 5), (1, Steps) })
        {
            var dir = folder.NewDir();
            var cfg = Config(dir, every);
            var e = Assert.Throws<InvalidOperationException>(() => GrpoTrainer.Run(cfg, new StopAt(stop), Reward()));
            Assert.Contains("interrupted", e.Message);
            var r = GrpoTrainer.Run(cfg with { Resume = true }, rewardOverride: Reward());

            var what = $"checkpoint every {every}, interrupted after step {stop}";
            Assert.True(expected.SequenceEqual(Figures(dir)), $"{what}:\n{string.Join("\n", Figures(dir))}\nexpected:\n{string.Join("\n", expected)}");
            AssertSameWeights(whole, dir);
            Assert.Equal(File.ReadAllText(Path.Combine(whole, TrainingPrompts.FileName)), File.ReadAllText(Path.Combine(dir, TrainingPrompts.FileName)));
            Assert.Equal((full.Steps, full.FirstReward, full.LastReward), (r.Steps, r.FirstReward, r.LastReward));
            Assert.Equal(full.Evals.Select(x => (x.Step, x.Eval.PassAt1)), r.Evals.Select(x => (x.Step, x.Eval.PassAt1)));
            // The bill covers both parts of the run: the same tokens and FLOPs as the uninterrupted one.
            Assert.Equal((full.Ledger.Tokens, full.Ledger.ModelFlops), (r.Ledger.Tokens, r.Ledger.ModelFlops));
            // And the same artifacts: every checkpoint, the one resumed from (measured on resume) included.
            if (every == 1)
                Assert.Equal(full.Ledger.Storage!.Artifacts.Select(a => (a.Path, a.Kind, a.Kept)), r.Ledger.Storage!.Artifacts.Select(a => (a.Path, a.Kind, a.Kept)));
            // The clocks go on from the checkpoint's: the RL seconds (what --minutes budgets) and the elapsed time never restart.
            foreach (var clock in new[] { "rl_seconds", "elapsed_seconds" })
            {
                var times = MetricsLog.Read(Path.Combine(dir, MetricsLog.FileName)).Where(x => x.ContainsKey("rl_seconds")).Select(x => (double)x[clock]!).ToList();
                Assert.True(times.Zip(times.Skip(1)).All(p => p.Second > p.First), $"{what}: {clock} {string.Join(" ", times)}");
                Assert.True(r.RlSeconds >= times[^1] || clock != "rl_seconds", $"{what}: result's RL seconds {r.RlSeconds} < {times[^1]}");
            }
        }
    }

    [Fact]
    public void A_fresh_start_refuses_a_folder_with_checkpoints_and_resume_refuses_other_settings()
    {
        var dir = folder.NewDir();
        var cfg = Config(dir, 1) with { Train = Config(dir, 1).Train with { Steps = 2 }, EvalEvery = 0 };
        Assert.Throws<InvalidOperationException>(() => GrpoTrainer.Run(cfg, new StopAt(1), Reward()));

        var fresh = Assert.Throws<SeekSharpException>(() => GrpoTrainer.Run(cfg, rewardOverride: Reward()));
        Assert.Contains("already holds checkpoint step_000001; pass --resume", fresh.Message);
        var other = Assert.Throws<SeekSharpException>(() => GrpoTrainer.Run(cfg with { Resume = true, Beta = 0.5, Train = cfg.Train with { LearningRate = 0.1 } }, rewardOverride: Reward()));
        Assert.Contains("beta: 0.04 in the run, 0.5 now", other.Message);
        Assert.Contains("train.learning_rate: 0.03 in the run, 0.1 now", other.Message);
        var none = Assert.Throws<SeekSharpException>(() => GrpoTrainer.Run(Config(folder.NewDir(), 1) with { Resume = true }, rewardOverride: Reward()));
        Assert.Contains("--resume given but no checkpoint found", none.Message);

        // A resume may run longer; once finished, resuming again with nothing left to do is refused.
        var done = GrpoTrainer.Run(cfg with { Resume = true }, rewardOverride: Reward());
        Assert.Equal(2, done.Steps);
        var again = Assert.Throws<SeekSharpException>(() => GrpoTrainer.Run(cfg with { Resume = true }, rewardOverride: Reward()));
        Assert.Contains("already finished at step 2", again.Message);
        var longer = GrpoTrainer.Run(cfg with { Resume = true, Train = cfg.Train with { Steps = 3 } }, rewardOverride: Reward());
        Assert.Equal(3, longer.Steps);
        Assert.Equal([1, 2, 3], MetricsLog.Read(Path.Combine(dir, MetricsLog.FileName)).Select(r => (int)r["step"]!));
    }
}
