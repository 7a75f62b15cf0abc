using SeekSharp.Data;
using SeekSharp.IO;
using SeekSharp.Ledger;
using SeekSharp.Tests.Cli;
using SeekSharp.Tests.Modeling;
using SeekSharp.Training;

namespace SeekSharp.Tests.Training;

[Collection("Console")] // CliTests.Run redirects Console.Out
public class RaceTests(TinyDataset data) : TempDirTest, IClassFixture<TinyDataset>
{
    static readonly TrainConfig Fast = new() { BatchSize = 2, SeqLen = 16, WarmupSteps = 2, EvalEvery = 3, EvalBatches = 1, Precision = "fp32" };

    RaceOptions Options(string outDir, double minutes = 0.02) => new(
        [new("mla-moe", TestModels.Mla() with { VocabSize = Vocab() }), new("mha-dense", TestModels.Mha() with { VocabSize = Vocab() })],
        data.DataDir, outDir, minutes, Fast);

    int Vocab()
    {
        using var ds = TokenDataset.Open(data.DataDir);
        return ds.VocabSize;
    }

    [Fact]
    public void ReachSecondsInterpolatesToTheFirstCrossing()
    {
        (double, double)[] curve = [(0, 6.0), (10, 5.0), (20, 4.0), (30, 4.5), (40, 3.0)];
        Assert.Equal(15, Race.ReachSeconds(curve, 4.5)!.Value, 9);   // between (10, 5.0) and (20, 4.0); the later 4.5 does not count
        Assert.Equal(20, Race.ReachSeconds(curve, 4.0)!.Value, 9);   // exactly on a point
        Assert.Equal(35, Race.ReachSeconds(curve, 3.75)!.Value, 9);
        Assert.Equal(0, Race.ReachSeconds(curve, 7.0)!.Value, 9);    // already there before the first step
        Assert.Null(Race.ReachSeconds(curve, 2.9));                  // not reached
        Assert.Equal(40, Race.ReachSeconds([(0, 6.0), (30, double.NaN), (40, 3.0)], 4.0)!.Value, 9);   // no line through a diverged point
    }

    [Fact]
    public void ARaceTrainsBothOnTheSameBatchesAndWritesItsFiles()
    {
        var outDir = NewDir();
        var r = Race.Run(Options(outDir));
        Assert.Equal(["mla-moe", "mha-dense"], r.Entries.Select(e => e.Preset));
        Assert.Equal(r.Entries[0].FinalValLoss, r.TargetLoss);
        Assert.Equal(1.0, r.Entries[0].Ratio);
        foreach (var e in r.Entries)
        {
            Assert.True(e.Steps >= Race.MinProbeSteps, $"{e.Preset}: {e.Steps} steps");
            Assert.Equal((long)e.Steps * Fast.BatchSize * Fast.SeqLen, e.Tokens);
            Assert.True(e.StateBytes > 0);
            Assert.Equal(0, e.Curve[0].Step);
            Assert.Equal(e.Steps, e.Curve[^1].Step);
            Assert.Equal(e.Curve[^1].Step, e.Curve[^1].Horizon);
        }
        Assert.True(r.PeakRssBytes > 0);

        // One line per evaluation per model, and at every step both reached, the same batches so far.
        var lines = MetricsLog.Read(Path.Combine(outDir, Race.LogFile));
        Assert.Equal(r.Entries.Sum(e => e.Curve.Count), lines.Count);
        var hashes = lines.GroupBy(l => (string)l["preset"]!).ToDictionary(g => g.Key, g => g.ToDictionary(l => (int)l["step"]!, l => (string)l["batch_hash"]!));
        var common = hashes["mla-moe"].Keys.Intersect(hashes["mha-dense"].Keys).ToList();
        Assert.True(common.Count >= 2, "the models were evaluated at no common step after the first");
        foreach (var step in common) Assert.Equal(hashes["mla-moe"][step], hashes["mha-dense"][step]);
        Assert.NotEqual(hashes["mla-moe"][0], hashes["mla-moe"][common.Max()]);

        Assert.True(File.Exists(Reports.RaceReport.Write(r)));
        var png = File.ReadAllBytes(Path.Combine(outDir, Reports.RaceReport.PlotFile));
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], png[..4]);
        var md = File.ReadAllText(Path.Combine(outDir, Reports.RaceReport.MarkdownFile));
        Assert.Contains("| mha-dense |", md);
        var ledger = LedgerEntry.Read(Path.Combine(outDir, "ledger.json"));
        Assert.Equal("bench-race", ledger.Kind);
        Assert.Equal(r.Entries.Sum(e => e.Tokens), ledger.Tokens);
        Assert.Contains(ledger.Storage!.Artifacts, a => a.Path == Reports.RaceReport.PlotFile);
    }

    sealed class Interrupt(int afterSteps) : ITrainingObserver
    {
        public void OnStep(StepMetrics m)
        {
            if (m.Step == afterSteps) throw new OperationCanceledException("simulated kill");
        }
    }

    [Fact]
    public void AnInterruptedRaceLeavesEveryFinishedEvaluationReadable()
    {
        var outDir = NewDir();
        Assert.Throws<OperationCanceledException>(() => Race.Run(Options(outDir, minutes: 5), new Interrupt(afterSteps: 9)));
        var lines = JsonLines.Read(Path.Combine(outDir, Race.LogFile), "race log").ToList();
        Assert.True(lines.Count >= 3, $"{lines.Count} lines");   // both models at step 0, and at least one at step 3
        foreach (var (line, where) in lines) JsonLines.ParseObject(line, where).Dispose();
    }

    [Fact]
    public void ADataVocabularyLargerThanAPresetsIsRefused()
    {
        var o = Options(NewDir());
        var e = Assert.Throws<SeekSharpException>(() => Race.Run(o with { Models = [o.Models[0], new("narrow", TestModels.Mha())] }));
        Assert.StartsWith("--data: ", e.Message);
        Assert.Contains("'narrow'", e.Message);
    }

    [Fact]
    public void TheCommandRacesTwoPresetsAndPrintsItsTable()
    {
        var outDir = NewDir();
        var (code, output) = CliTests.Run("bench", "race", "--presets", "tiny,small-dense", "--data", data.DataDir, "--minutes", "0.03",
            "--batch-size", "2", "--seq-len", "16", "--eval-every", "4", "--precision", "fp32", "--warmup", "1", "--out", outDir);
        Assert.True(code == 0, output);
        // The first model's ratio to itself. Without warm-up its loss falls from the first step, so even the few steps a
        // loaded machine fits in 1.8 s end below the step-0 loss (a model whose loss never fell reaches its target at 0 s: "-").
        Assert.True(output.Contains("1.00x"), output);
        Assert.Contains("vocab_size set to the data's", output);
        Assert.Contains("small-dense", output);
        Assert.Contains("Peak RSS", output);
        var md = File.ReadAllText(Path.Combine(outDir, Reports.RaceReport.MarkdownFile));
        Assert.Contains("seek bench race --presets tiny,small-dense", md);
    }

    [Theory]
    [InlineData("--presets", "tiny", "--presets: a race needs two or more")]
    [InlineData("--presets", "tiny,gigantic", "--presets: unknown preset 'gigantic'")]
    [InlineData("--presets", "tiny,tiny", "--presets: 'tiny' is named twice")]
    [InlineData("--minutes", "0", "--minutes: expected a number of minutes above 0")]
    [InlineData("--minutes", "-1", "--minutes: expected a number of minutes above 0")]
    [InlineData("--data", "MISSING", "--data: ")]
    public void BadInputIsOneErrorLineNamingTheFlag(string flag, string value, string expected)
    {
        var args = new Dictionary<string, string> { ["--presets"] = "tiny,small-dense", ["--data"] = data.DataDir, ["--minutes"] = "0.01" };
        args[flag] = value == "MISSING" ? Path.Combine(NewDir(), "no-such-data") : value;
        var (code, output) = CliTests.Run(["bench", "race", .. args.SelectMany(kv => new[] { kv.Key, kv.Value }), "--out", NewDir()]);
        Assert.Equal(1, code);
        var errors = output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => l.StartsWith("error:")).ToList();
        Assert.Single(errors);
        Assert.StartsWith("error: " + expected, errors[0]);
        Assert.DoesNotContain("   at ", output);
    }
}
