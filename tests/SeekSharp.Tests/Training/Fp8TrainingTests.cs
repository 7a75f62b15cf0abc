using SeekSharp.Checkpoints;
using SeekSharp.Modeling;
using SeekSharp.Tests.Cli;
using SeekSharp.Tests.Modeling;
using SeekSharp.Training;
using static TorchSharp.torch;

namespace SeekSharp.Tests.Training;

// `--precision fp8` end to end on a tiny model: it trains, its folder loads like any other, bad values are one error line.
// (Exact resume of an fp8 run is ResumeTests' theory, with "fp8" among its precisions.)
public class Fp8TrainingTests(TinyDataset data) : IClassFixture<TinyDataset>
{
    static readonly TrainConfig Fast = TinyDataset.Fast with { Steps = 12, Precision = "fp8", EvalEvery = 6, CheckpointEvery = 6 };

    PretrainOptions Options(string run, TrainConfig tc) => new(data.DataDir, run, TestModels.Mla() with { MaxPositionEmbeddings = 32 }, tc, false);

    sealed class Recorder : ITrainingObserver
    {
        public List<double> Losses { get; } = [];
        public void OnStep(StepMetrics m) => Losses.Add(m.Loss);
    }

    [Fact]
    public void AnFp8RunTrainsAndItsFolderLoads()
    {
        var run = data.NewRunDir();
        var rec = new Recorder();
        var r = Pretrainer.Run(Options(run, Fast), rec);
        Assert.True(rec.Losses[^1] < rec.Losses[0] - 0.5, $"loss {rec.Losses[0]:F3} -> {rec.Losses[^1]:F3}");
        Assert.True(r.FinalValLoss is > 0 and < 10);
        Assert.Contains("\"fp8\"", File.ReadAllText(Path.Combine(run, "train_config.json")));

        // Not the bf16 run: the same seed and batches give other losses once the operands are quantized.
        var bf16 = new Recorder();
        Pretrainer.Run(Options(data.NewRunDir(), Fast with { Precision = "bf16" }), bf16);
        Assert.NotEqual(bf16.Losses[^1], rec.Losses[^1]);
        Assert.True(Math.Abs(bf16.Losses[^1] - rec.Losses[^1]) < 0.1 * bf16.Losses[^1], $"fp8 {rec.Losses[^1]:F4} vs bf16 {bf16.Losses[^1]:F4}");

        // The final folder and the checkpoint hold fp32 masters, as bf16 runs do: they load and agree.
        using var a = ModelFiles.Load(run);
        using var b = ModelFiles.Load(TrainingCheckpoint.Latest(run)!);
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var ids = tensor(new long[] { 1, 2, 3, 4, 5 }).unsqueeze(0);
        Assert.True(a.Forward(ids).Logits.eq(b.Forward(ids).Logits).all().item<bool>());
        Assert.All(a.parameters(), p => Assert.Equal(ScalarType.Float32, p.dtype));
    }

    [Fact]
    public void AnUnknownPrecisionIsNamed()
    {
        var e = Assert.Throws<SeekSharpException>(() => (Fast with { Precision = "fp9" }).Validate());
        Assert.Contains("'precision'", e.Message);
        Assert.Contains("\"fp8\"", e.Message);
    }

    [Fact]
    public void TheCliRefusesAnUnknownPrecisionInOneLine()
    {
        foreach (var args in new[]
        {
            new[] { "base", "train", "--data", data.DataDir, "--out", data.NewRunDir(), "--precision", "fp9" },
            ["bench", "train", "--preset", "tiny", "--precision", "bf16,fp9"],
        })
        {
            var r = SeekProcess.Run(args);
            Assert.Equal(1, r.Code);
            var lines = r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.True(lines.Length == 1 && lines[0].StartsWith("error: ") && lines[0].Contains("fp9") , r.Err);
        }
    }
}
