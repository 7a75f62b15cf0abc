using SeekSharp.Ledger;

namespace SeekSharp.Tests.Ledger;

public class MetricsLogTests
{
    [Fact]
    public void AppendsAndReadsBack()
    {
        using var dir = new TempDir();
        var path = dir.File("metrics.jsonl");
        using (var log = MetricsLog.Open(path))
        {
            log.Append(new Dictionary<string, object?> { ["step"] = 1, ["loss"] = 2.5 });
            log.Append(new Dictionary<string, object?> { ["step"] = 2, ["loss"] = double.NaN });
        }
        var rows = MetricsLog.Read(path);
        Assert.Equal(2, rows.Count);
        Assert.Equal(2.5, rows[0]["loss"]!.GetValue<double>());
        Assert.Equal("NaN", rows[1]["loss"]!.ToString());
    }

    [Fact]
    public void SkipsTruncatedLastLine()
    {
        using var dir = new TempDir();
        var path = dir.File("metrics.jsonl");
        File.WriteAllText(path, "{\"step\":1}\n{\"step\":2}\n{\"step\":3,\"lo");
        Assert.Equal(2, MetricsLog.Read(path).Count);
    }

    [Fact]
    public void ReopeningCutsTruncatedLineBeforeAppending()
    {
        using var dir = new TempDir();
        var path = dir.File("metrics.jsonl");
        File.WriteAllText(path, "{\"step\":1}\n{\"step\":2,\"lo");
        using (var log = MetricsLog.Open(path)) log.Append(new Dictionary<string, object?> { ["step"] = 2 });
        Assert.Equal("{\"step\":1}\n{\"step\":2}\n", File.ReadAllText(path));
    }

    [Fact]
    public void ReopeningKeepsCompleteRecordMissingNewline()
    {
        using var dir = new TempDir();
        var path = dir.File("metrics.jsonl");
        File.WriteAllText(path, "{\"step\":1}");
        Assert.Single(MetricsLog.Read(path));
        using (var log = MetricsLog.Open(path)) log.Append(new Dictionary<string, object?> { ["step"] = 2 });
        Assert.Equal(2, MetricsLog.Read(path).Count);
    }

    [Fact]
    public void MalformedMiddleLineIsReportedWithLineNumber()
    {
        using var dir = new TempDir();
        var path = dir.File("metrics.jsonl");
        File.WriteAllText(path, "{\"step\":1}\n{\"step\":oops}\n{\"step\":3}\n");
        var e = Assert.Throws<SeekSharpException>(() => MetricsLog.Read(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("line 2", e.Message);
    }
}
