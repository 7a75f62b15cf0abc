using SeekSharp.Checkpoints;
using SeekSharp.Ledger;
using SeekSharp.Modeling;
using SeekSharp.Tests.Cli;
using SeekSharp.Tests.Modeling;
using SeekSharp.Training;

namespace SeekSharp.Tests.Training;

// Exact resume of pretraining, from every checkpoint and after a kill at any point: the resumed run's
// per-step losses and final weights must equal the uninterrupted run's to the bit.
[Collection("Console")] // the CLI cases redirect Console.Out
public class ResumeTests(TinyDataset data) : IClassFixture<TinyDataset>
{
    // 16 experts, one per token, 8 tokens a step: most experts get no token in a given step, and some none
    // for several steps, the case where AdamW's handling of a missing gradient decides exactness.
    static readonly ModelConfig Starved = TestModels.Mla() with { MaxPositionEmbeddings = 8, NRoutedExperts = 16, NumExpertsPerTok = 1 };
    static readonly TrainConfig EveryStep = new()
    {
        Steps = 7, BatchSize = 1, SeqLen = 8, Precision = "fp32", WarmupSteps = 2, EvalEvery = 0, EvalBatches = 1,
        CheckpointEvery = 1, KeepCheckpoints = 10, BiasUpdateSpeed = 0.01,
    };

    PretrainOptions Options(string run, bool resume = false) => new(data.DataDir, run, Starved, EveryStep, resume);

    internal static List<double> Losses(string run) =>
        MetricsLog.Read(Path.Combine(run, MetricsLog.FileName)).Select(r => r["loss"]!.GetValue<double>()).ToList();

    internal static List<int> Steps(string run) =>
        MetricsLog.Read(Path.Combine(run, MetricsLog.FileName)).Select(r => r["step"]!.GetValue<int>()).ToList();

    /// <summary>A copy of <paramref name="run"/> as a kill right after checkpoint <paramref name="step"/> leaves it:
    /// later checkpoints, the final model and ledger gone, metrics.jsonl as it was (with lines past the checkpoint).</summary>
    static string KilledCopy(string run, int step, string into)
    {
        Directory.CreateDirectory(Path.Combine(into, "checkpoints"));
        foreach (var f in Directory.GetFiles(run)) File.Copy(f, Path.Combine(into, Path.GetFileName(f)));
        File.Delete(Path.Combine(into, ModelFiles.WeightsFile));
        File.Delete(Path.Combine(into, "ledger.json"));
        var ckpt = TrainingCheckpoint.Folder(run, step);
        var dst = TrainingCheckpoint.Folder(into, step);
        Directory.CreateDirectory(dst);
        foreach (var f in Directory.GetFiles(ckpt)) File.Copy(f, Path.Combine(dst, Path.GetFileName(f)));
        return into;
    }

    [Theory]
    [InlineData("fp32")]
    [InlineData("bf16")]
    [InlineData("fp8")]
    public void ResumeFromEachOfTheFirstCheckpointsIsBitExact(string precision)
    {
        PretrainOptions Options(string run, bool resume = false) => this.Options(run, resume) with { Train = EveryStep with { Precision = precision } };
        var straight = data.NewRunDir();
        Pretrainer.Run(Options(straight));
        var losses = Losses(straight);
        var weights = File.ReadAllBytes(Path.Combine(straight, ModelFiles.WeightsFile));
        Assert.Equal(EveryStep.Steps, losses.Count);

        for (int k = 1; k <= 5; k++)
        {
            var run = KilledCopy(straight, k, data.NewRunDir());
            Pretrainer.Run(Options(run, resume: true));
            Assert.Equal(Enumerable.Range(1, EveryStep.Steps), Steps(run));
            var resumed = Losses(run);
            for (int i = 0; i < losses.Count; i++)
                Assert.True(losses[i] == resumed[i], $"resumed from step {k}: step {i + 1} loss {resumed[i]:R}, uninterrupted {losses[i]:R}");
            Assert.True(weights.AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(run, ModelFiles.WeightsFile))),
                $"resumed from step {k}: final weights differ from the uninterrupted run's");
        }
    }

    [Fact]
    public void AKillAfterTheLastCheckpointIsFinishedByResume()
    {
        var straight = data.NewRunDir();
        Pretrainer.Run(Options(straight));
        var run = KilledCopy(straight, EveryStep.Steps, data.NewRunDir());

        var result = Pretrainer.Run(Options(run, resume: true));
        Assert.Equal(EveryStep.Steps, result.Steps);
        Assert.True(File.ReadAllBytes(Path.Combine(straight, ModelFiles.WeightsFile)).AsSpan()
            .SequenceEqual(File.ReadAllBytes(Path.Combine(run, ModelFiles.WeightsFile))));
        Assert.True(File.Exists(Path.Combine(run, "ledger.json")));
        Assert.Equal(Losses(straight), Losses(run));
        Assert.Equal(Losses(straight)[^1], result.FinalLoss);

        // A finished run is not finished again (that would replace its ledger with an empty one).
        var ledger = File.ReadAllText(Path.Combine(run, "ledger.json"));
        var finished = Assert.Throws<SeekSharpException>(() => Pretrainer.Run(Options(run, resume: true)));
        Assert.Contains("finished", finished.Message);
        Assert.Equal(ledger, File.ReadAllText(Path.Combine(run, "ledger.json")));
        // Past the last step is still refused, with the step to pass.
        var e = Assert.Throws<SeekSharpException>(() => Pretrainer.Run(Options(run, resume: true) with { Train = EveryStep with { Steps = 5 } }));
        Assert.Contains("--steps 7", e.Message);
    }

    sealed class DiesAt(int step) : ITrainingObserver
    {
        public void OnStep(StepMetrics m) { if (m.Step == step) throw new OperationCanceledException("simulated kill"); }
    }

    [Fact]
    public void AFreshStartAfterARunThatDiedBeforeItsFirstCheckpointStartsAFreshLog()
    {
        var run = data.NewRunDir();
        var noCheckpointYet = Options(run) with { Train = EveryStep with { CheckpointEvery = 5 } };
        Assert.Throws<OperationCanceledException>(() => Pretrainer.Run(noCheckpointYet, new DiesAt(3)));
        Assert.Null(TrainingCheckpoint.Latest(run));
        Assert.Equal([1, 2, 3], Steps(run));

        Pretrainer.Run(noCheckpointYet);
        Assert.Equal(Enumerable.Range(1, EveryStep.Steps), Steps(run));
    }

    [Fact]
    public void ACheckpointIsAModelFolder()
    {
        var run = data.NewRunDir();
        Pretrainer.Run(Options(run) with { Train = EveryStep with { Steps = 2 } });
        var ckpt = TrainingCheckpoint.Folder(run, 1);
        foreach (var f in new[] { "config.json", "model.safetensors", "tokenizer.json" })
            Assert.True(File.Exists(Path.Combine(ckpt, f)), f);
        var (code, output) = CliTests.Run("generate", "--model", ckpt, "--prompt", "the", "--max-tokens", "3", "--temperature", "0");
        Assert.True(code == 0, output);
    }

    static string[] TrainArgs(string dataDir, string run, params string[] more) =>
        ["base", "train", "--data", dataDir, "--out", run, "--preset", "tiny", "--steps", "24", "--batch-size", "2", "--seq-len", "32",
         "--precision", "fp32", "--warmup", "4", "--eval-every", "8", "--checkpoint-every", "3", "--seed", "5", .. more];

    [Fact]
    public void ResumeAfterKillingTheProcessReproducesTheUninterruptedRun()
    {
        var straight = data.NewRunDir();
        var (code, output) = CliTests.Run(TrainArgs(data.DataDir, straight));
        Assert.True(code == 0, output);

        var run = data.NewRunDir();
        using (var child = new SeekProcess(TrainArgs(data.DataDir, run)))
        {
            // Killed as soon as the first checkpoint is there: mid-step, or mid-save of the next one.
            Assert.True(child.WaitUntil(() => TrainingCheckpoint.Latest(run) is not null), "the run ended before its first checkpoint:\n" + child.Output);
            child.Kill();
        }
        Assert.False(File.Exists(Path.Combine(run, "ledger.json")));
        (code, output) = CliTests.Run(TrainArgs(data.DataDir, run, "--resume"));
        Assert.True(code == 0, output);

        Assert.Equal(Enumerable.Range(1, 24), Steps(run));
        Assert.Equal(Losses(straight), Losses(run));
        Assert.True(File.ReadAllBytes(Path.Combine(straight, ModelFiles.WeightsFile)).AsSpan()
            .SequenceEqual(File.ReadAllBytes(Path.Combine(run, ModelFiles.WeightsFile))));
        // The bill covers the whole run: the checkpoint carried the killed process's share into the resumed one.
        var (whole, resumed) = (LedgerEntry.Read(Path.Combine(straight, "ledger.json")), LedgerEntry.Read(Path.Combine(run, "ledger.json")));
        Assert.Equal(whole.Tokens, resumed.Tokens);
        Assert.Equal(whole.ModelFlops, resumed.ModelFlops, whole.ModelFlops * 1e-12);
    }
}
