using SeekSharp.Training;

namespace SeekSharp.Tests.Training;

public class TrainBenchmarkTests
{
    static TrainBenchResult R(string preset, string precision, double tps, int round) =>
        new(preset, precision, 16, 256, 5, tps, 1000, 8e7, 100, 200, 0.5, 1, 1, true) { Round = round };

    [Fact]
    public void SummaryAveragesRoundsAndComparesWithTheFirstPresetAtTheSamePrecision()
    {
        var s = TrainBenchmark.Summarize([
            R("small-dense", "bf16", 4000, 1), R("small", "bf16", 2800, 1),
            R("small-dense", "bf16", 3600, 2), R("small", "bf16", 3280, 2),
            R("small-dense", "fp32", 1600, 1), R("small", "fp32", 1200, 1)]);
        var moe = s.Single(x => x.Preset == "small" && x.Precision == "bf16");
        Assert.Equal(2, moe.Rounds);
        Assert.Equal(3040, moe.MeanTokensPerSecond, 6);
        Assert.Equal(0.8, moe.RatioToFirst, 6);
        Assert.Equal(0.75, s.Single(x => x.Preset == "small" && x.Precision == "fp32").RatioToFirst, 6);
        Assert.Equal(1.0, s.Single(x => x.Preset == "small-dense" && x.Precision == "bf16").RatioToFirst, 6);
    }
}
