using SeekSharp.Checkpoints;
using SeekSharp.Ledger;
using SeekSharp.Reasoning;
using SeekSharp.Tests.Alignment;
using SeekSharp.Training;

namespace SeekSharp.Tests.Reasoning;

public class GrpoTrainerTests(ChatModelFolder folder) : IClassFixture<ChatModelFolder>
{
    /// <summary>A trivially learnable reward: the fraction of the completion's characters that are digits.</summary>
    sealed class DigitReward : IReward
    {
        public string Name => "digits";
        public double[] Score(IReadOnlyList<Rollout> rollouts) =>
            rollouts.Select(r => r.Text.Length == 0 ? 0.0 : r.Text.Count(char.IsAsciiDigit) / (double)r.Text.Length).ToArray();
    }

    GrpoConfig Config(string outDir, int steps) => new()
    {
        ModelDir = folder.ModelDir, OutDir = outDir, Task = "arithmetic", GroupSize = 8, PromptsPerStep = 2, MaxTokens = 4,
        Beta = 0.04, Train = GrpoConfig.DefaultTrain with { Steps = steps, LearningRate = 3e-2, WarmupSteps = 1, Precision = "fp32", Seed = 5 },
    };

    sealed class Recorder : ITrainingObserver
    {
        public List<StepMetrics> Steps { get; } = [];
        public void OnStep(StepMetrics m) => Steps.Add(m);
    }

    const int Steps = 20;

    [Fact]
    public void A_few_steps_raise_a_learnable_reward_and_write_a_model_folder()
    {
        var outDir = folder.NewDir();
        var rec = new Recorder();
        var r = GrpoTrainer.Run(Config(outDir, Steps), rec, new RewardSet([(new DigitReward(), 1.0)]));
        var records = MetricsLog.Read(Path.Combine(outDir, MetricsLog.FileName));
        var rewards = records.Select(x => (double)x["reward"]!).ToList();
        double first = rewards.Take(3).Average(), last = rewards.TakeLast(3).Average();
        Assert.True(last > first + 0.2, $"reward {first:F3} -> {last:F3}: {string.Join(" ", rewards.Select(x => x.ToString("F2")))}");

        Assert.Equal(Steps, r.Steps);
        Assert.Equal(Steps, rec.Steps.Count);
        // Once every completion is all digits a group has no variance and its step no update: look at the last step that had one.
        var updated = records.Last(x => (int)x["zero_variance_groups"]! < (int)x["groups"]!);
        foreach (var key in new[] { "reward/digits", "completion_tokens", "kl", "clip_fraction", "entropy", "zero_variance_groups", "tokens_per_second" })
            Assert.True(updated.ContainsKey(key), key);
        Assert.True((double)updated["kl"]! > 0);                       // the policy moved away from the reference
        using var model = ModelFiles.Load(outDir);                       // a normal model folder
        Assert.True(File.Exists(Path.Combine(outDir, "tokenizer.json")));
        Assert.True(File.Exists(Path.Combine(outDir, "reward.png")));
        Assert.Equal(Steps * 2, File.ReadAllLines(Path.Combine(outDir, TrainingPrompts.FileName)).Length);
        // The prompts are the stage's data: generated problems, each read once and trained on, with their prompt tokens.
        var data = LedgerEntry.Read(Path.Combine(outDir, "ledger.json")).Data!;
        var source = Assert.Single(data.Sources);
        Assert.Equal(("arithmetic (generated)", 2L * Steps, 2L * Steps, DataOrigin.Synthetic), (source.Name, source.DocumentsRead, source.DocumentsKept, source.Origin));
        Assert.Null(source.BytesRead);
        Assert.InRange(source.TrainTokens, 2L * Steps * 5, 2L * Steps * 200);
        Assert.Equal(1.0, data.ShareOf(DataOrigin.Synthetic));
    }

    [Fact]
    public void Groups_without_reward_variance_are_skipped_and_counted()
    {
        var outDir = folder.NewDir();
        // A random model never writes the R1 format: every reward is 0, every group has zero variance, nothing is updated.
        GrpoTrainer.Run(Config(outDir, 2) with { Beta = 0 });
        var records = MetricsLog.Read(Path.Combine(outDir, MetricsLog.FileName));
        Assert.All(records, x => Assert.Equal(2, (int)x["zero_variance_groups"]!));
        Assert.All(records, x => Assert.False(x.ContainsKey("kl")));
        using var before = ModelFiles.Load(folder.ModelDir);
        using var after = ModelFiles.Load(outDir);
        var a = before.state_dict();
        foreach (var (name, t) in after.state_dict()) Assert.True(t.allclose(a[name], 0, 0), name);
    }
}
