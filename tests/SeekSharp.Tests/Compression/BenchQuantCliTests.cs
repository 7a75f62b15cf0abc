using System.Text.Json;
using SeekSharp.Tests.Cli;

namespace SeekSharp.Tests.Compression;

// `seek bench quant` on one tiny shape: every route reports a positive time and bf16 is its own baseline. No timing
// is asserted (the machine is shared); the table's content is the user's to read.

[Collection("Console")] // CliTests.Run redirects Console.Out
public sealed class BenchQuantCliTests
{
    [Fact]
    public void PrintsOneJsonLinePerRouteAndRowCount()
    {
        var (code, output) = CliTests.Run("bench", "quant", "--shapes", "64x64", "--m", "1,3", "--rounds", "1", "--json");
        Assert.True(code == 0, output);
        var rows = output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        var routes = rows.Select(r => r.GetProperty("route").GetString()!).Distinct().ToList();
        Assert.Contains("bf16 linear", routes);
        Assert.Contains("q8_0 1 thread", routes);
        Assert.Contains("q4_0 1 thread", routes);
        Assert.Equal(2 * routes.Count, rows.Count);
        Assert.All(rows, r => Assert.True(r.GetProperty("micros_per_call").GetDouble() > 0));
        Assert.All(rows.Where(r => r.GetProperty("route").GetString() == "bf16 linear"), r => Assert.Equal(1.0, r.GetProperty("speedup_vs_bf16").GetDouble(), 6));
    }

    [Theory]
    [InlineData("--shapes", "64x40", "--shapes")]
    [InlineData("--m", "0", "--m")]
    [InlineData("--rounds", "0", "--rounds")]
    public void RefusesBadFlagsWithOneErrorLine(string flag, string value, string named)
    {
        var (code, output) = CliTests.Run("bench", "quant", flag, value);
        Assert.Equal(1, code);
        var line = Assert.Single(output.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("error:", line);
        Assert.Contains(named, line);
    }
}
