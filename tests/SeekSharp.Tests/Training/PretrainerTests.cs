using SeekSharp.Checkpoints;
using SeekSharp.Modeling;
using SeekSharp.Tests.Modeling;
using SeekSharp.Training;
using static TorchSharp.torch;

namespace SeekSharp.Tests.Training;

public class PretrainerTests(TinyDataset data) : IClassFixture<TinyDataset>
{
    static readonly TrainConfig Fast = TinyDataset.Fast;

    sealed class Recorder(int? failAfter = null) : ITrainingObserver
    {
        public List<double> Losses { get; } = [];
        public void OnStep(StepMetrics m)
        {
            Losses.Add(m.Loss);
            if (m.Step == failAfter) throw new OperationCanceledException("simulated kill");
        }
    }

    PretrainOptions Options(string run, bool resume = false) => new(data.DataDir, run, TestModels.Mla() with { MaxPositionEmbeddings = 32 }, Fast, resume);

    [Fact]
    public void ResumeAfterAKillReproducesTheUninterruptedLosses()
    {
        var straight = new Recorder();
        var full = Pretrainer.Run(Options(data.NewRunDir()), straight);

        var run = data.NewRunDir();
        var killed = new Recorder(failAfter: 4);        // dies after step 4; the last checkpoint is step 3
        Assert.Throws<OperationCanceledException>(() => Pretrainer.Run(Options(run), killed));
        Assert.EndsWith("step_000003", TrainingCheckpoint.Latest(run));
        var leftover = Path.Combine(run, "checkpoints", ".tmp-step_000004-dead");   // a save killed halfway
        Directory.CreateDirectory(leftover);
        File.WriteAllText(Path.Combine(leftover, "model.safetensors"), "partial");
        var resumed = new Recorder();
        var result = Pretrainer.Run(Options(run, resume: true), resumed);

        Assert.Equal(6, straight.Losses.Count);
        for (int i = 0; i < 4; i++) Assert.True(straight.Losses[i] == killed.Losses[i], $"step {i + 1}: straight {straight.Losses[i]:F6} killed {killed.Losses[i]:F6}");
        Assert.Equal(3, resumed.Losses.Count);
        for (int i = 0; i < 3; i++) Assert.Equal(straight.Losses[3 + i], resumed.Losses[i]);   // to the bit
        Assert.Equal(full.FinalLoss, result.FinalLoss);
        Assert.False(Directory.Exists(leftover));
        // metrics.jsonl has each step once: the killed run's step 4 line was dropped on resume.
        var steps = SeekSharp.Ledger.MetricsLog.Read(Path.Combine(run, "metrics.jsonl")).Select(r => (int)r["step"]!).ToList();
        Assert.Equal([1, 2, 3, 4, 5, 6], steps);
    }

    [Fact]
    public void TrainingLowersTheLossAndWritesARunFolder()
    {
        var run = data.NewRunDir();
        var rec = new Recorder();
        var r = Pretrainer.Run(Options(run) with { Train = Fast with { Steps = 12, Precision = "bf16" } }, rec);
        Assert.True(rec.Losses[^1] < rec.Losses[0] - 0.5, $"loss {rec.Losses[0]:F3} -> {rec.Losses[^1]:F3}");
        foreach (var f in new[] { "config.json", "model.safetensors", "metrics.jsonl", "ledger.json", "tokenizer.json", "train_config.json" })
            Assert.True(File.Exists(Path.Combine(run, f)), f);
        Assert.True(r.Ledger.Tokens == 12 * 4 * 32);
        Assert.True(r.FinalValLoss is > 0);
    }

    [Fact]
    public void CheckpointRoundTripGivesIdenticalLogits()
    {
        var run = data.NewRunDir();
        // An odd step count: with γ = 0.01 each bias is an odd multiple of γ, never 0 (two steps can cancel).
        Pretrainer.Run(Options(run) with { Train = Fast with { Steps = 3 } });
        using var a = ModelFiles.Load(run);
        using var b = ModelFiles.Load(TrainingCheckpoint.Latest(run)!);
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var ids = tensor(new long[] { 1, 2, 3, 4, 5 }).unsqueeze(0);
        Assert.True(a.Forward(ids).Logits.eq(b.Forward(ids).Logits).all().item<bool>());
        // Router biases are part of the checkpoint.
        Assert.Equal(a.Gates[0].Gate.Bias, b.Gates[0].Gate.Bias);
        Assert.NotEqual(0f, a.Gates[0].Gate.Bias.Select(Math.Abs).Sum());
    }

    [Fact]
    public void RefusesToOverwriteARunAndToResumeNothing()
    {
        var run = data.NewRunDir();
        var e = Assert.Throws<SeekSharpException>(() => Pretrainer.Run(Options(run, resume: true)));
        Assert.Contains("no checkpoint", e.Message);
        Pretrainer.Run(Options(run) with { Train = Fast with { Steps = 3 } });
        e = Assert.Throws<SeekSharpException>(() => Pretrainer.Run(Options(run)));
        Assert.Contains("--resume", e.Message);
        e = Assert.Throws<SeekSharpException>(() => Pretrainer.Run(Options(run, resume: true) with { Model = TestModels.Mha() with { MaxPositionEmbeddings = 32 } }));
        Assert.Contains("differs", e.Message);
    }

    [Fact]
    public void MissingDataFolderIsNamed()
    {
        var missing = Path.Combine(data.NewRunDir(), "nope");
        var e = Assert.Throws<SeekSharpException>(() => Pretrainer.Run(Options(data.NewRunDir()) with { DataDir = missing }));
        Assert.Contains(missing, e.Message);
    }

    [Fact]
    public void InitStartsFromAModelFoldersWeights()
    {
        var first = data.NewRunDir();
        Pretrainer.Run(Options(first) with { Train = Fast with { Steps = 12, Precision = "bf16" } });
        var cfg = Pretrainer.InitConfig(first, 0);
        var fresh = new Recorder();
        Pretrainer.Run(Options(data.NewRunDir()) with { Model = cfg, Train = Fast with { Steps = 2 } }, fresh);
        var warm = new Recorder();
        var run = data.NewRunDir();
        Pretrainer.Run(Options(run) with { Model = cfg, Train = Fast with { Steps = 2 }, InitDir = first }, warm);
        // The same first batch: from the trained weights its loss is far below a random init's.
        Assert.True(warm.Losses[0] < fresh.Losses[0] - 0.5, $"first-step loss from --init {warm.Losses[0]:F3}, from scratch {fresh.Losses[0]:F3}");
        Assert.True(File.Exists(Path.Combine(run, "model.safetensors")));
    }

    [Fact]
    public void InitRefusesWhatItCannotStartFrom()
    {
        var notAModel = data.NewRunDir();
        Directory.CreateDirectory(notAModel);
        var e = Assert.Throws<SeekSharpException>(() => Pretrainer.InitConfig(notAModel, 0));
        Assert.Contains("config.json", e.Message);
        var first = data.NewRunDir();
        Pretrainer.Run(Options(first) with { Train = Fast with { Steps = 1 } });
        e = Assert.Throws<SeekSharpException>(() => Pretrainer.InitConfig(first, 1));
        Assert.StartsWith("--mtp-depth", e.Message);
        // A config other than the folder's (another width) is refused before any step.
        var other = Pretrainer.InitConfig(first, 0) with { HiddenSize = 64 };
        var run = data.NewRunDir();
        e = Assert.Throws<SeekSharpException>(() => Pretrainer.Run(Options(run) with { Model = other, InitDir = first }));
        Assert.Contains("differs", e.Message);
        Assert.False(File.Exists(Path.Combine(run, "model.safetensors")));
    }
}
