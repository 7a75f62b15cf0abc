using SeekSharp.Reports;

namespace SeekSharp.Tests.Ledger;

public class PlotsTests
{
    [Fact]
    public void LineChartWritesPng()
    {
        using var dir = new TempDir();
        var path = dir.File("loss.png");
        IReadOnlyList<(double X, double Y)> train = [.. Enumerable.Range(0, 50).Select(i => ((double)i, 5.0 / (1 + i)))];
        IReadOnlyList<(double X, double Y)> val = [(0, 5.2), (25, 0.3), (49, double.NaN)];
        Plots.LineChart(path, "loss", "step", "loss", [("train", train), ("validation", val)]);
        var bytes = File.ReadAllBytes(path);
        Assert.True(bytes.Length > 100);
        Assert.Equal(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }, bytes[..8]);
    }
}
