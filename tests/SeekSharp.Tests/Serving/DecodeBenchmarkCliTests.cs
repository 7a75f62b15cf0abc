using System.Text.Json;
using SeekSharp.Modeling;
using SeekSharp.Tests.Cli;
using SeekSharp.Tests.Export;
using SeekSharp.Tests.Tokenization;

namespace SeekSharp.Tests.Serving;

// `seek bench engine --model` and `seek bench llama` on a tiny model folder: the structure of what they print
// (every run there, with its token count; the summary names llama.cpp's best thread count), never the speed.

[Collection("Console")] // CliTests.Run redirects Console.Out
public sealed class DecodeBenchmarkCliTests : TempDirTest
{
    string TinyFolder() => GgufFixture.Build(Path.Combine(NewDir(), "tiny"), Presets.Get("tiny") with { VocabSize = TokenizerFixture.VocabSize + 6 });

    static List<JsonElement> JsonLines(string output) =>
        output.Split('\n').Where(l => l.StartsWith('{')).Select(l => JsonDocument.Parse(l).RootElement.Clone()).ToList();

    [Fact]
    public void BenchEngineRunsAModelFolder()
    {
        var dir = TinyFolder();
        var (code, output) = CliTests.Run("bench", "engine", "--model", dir, "--clients", "1,2", "--tokens", "4", "--rounds", "1", "--json");
        Assert.True(code == 0, output);
        var rows = JsonLines(output);
        Assert.Equal([1, 2], rows.Select(r => r.GetProperty("clients").GetInt32()));
        Assert.Equal([4L, 8L], rows.Select(r => r.GetProperty("tokens").GetInt64()));
    }

    [Fact]
    public void BenchEngineRefusesBothAPresetAndAModel()
    {
        var (code, output) = CliTests.Run("bench", "engine", "--model", NewDir(), "--preset", "tiny", "--tokens", "4");
        Assert.Equal(1, code);
        Assert.StartsWith("error: --preset and --model", output.Trim());
        (code, output) = CliTests.Run("bench", "engine", "--model", Path.Combine(NewDir(), "missing"), "--tokens", "4");
        Assert.Equal(1, code);
        Assert.Contains("model folder not found", output);
    }

    [Fact]
    public void BenchLlamaRefusesBadFlagsInOneLine()
    {
        var (code, output) = CliTests.Run("bench", "llama", "--model", NewDir(), "--threads", "1,zero");
        Assert.Equal(1, code);
        Assert.StartsWith("error: --threads: 'zero'", output.Trim());
        (code, output) = CliTests.Run("bench", "llama", "--model", NewDir(), "--tokens", "1");
        Assert.Equal(1, code);
        Assert.StartsWith("error: --tokens", output.Trim());
    }

    [LlamaCppFact]
    public void BenchLlamaComparesBothRunnersOnTheSameModel()
    {
        var dir = TinyFolder();
        var (code, output) = CliTests.Run("bench", "llama", "--model", dir, "--tokens", "8", "--rounds", "2", "--threads", "1,2", "--json");
        Assert.True(code == 0, output);
        var lines = JsonLines(output);
        var runs = lines.Where(l => l.TryGetProperty("runner", out _)).ToList();
        // Per round: llama.cpp at 1 and at 2 threads, then SeekSharp; each decodes exactly its 8 tokens.
        Assert.Equal(["llama.cpp", "llama.cpp", "SeekSharp", "llama.cpp", "llama.cpp", "SeekSharp"], runs.Select(r => r.GetProperty("runner").GetString()));
        Assert.Equal([1, 1, 1, 2, 2, 2], runs.Select(r => r.GetProperty("round").GetInt32()));
        Assert.All(runs, r => Assert.Equal(8, r.GetProperty("tokens").GetInt32()));
        Assert.All(runs, r => Assert.True(r.GetProperty("tokens_per_second").GetDouble() > 0));
        var summary = lines.Single(l => l.TryGetProperty("ratio", out _));
        int best = summary.GetProperty("best_threads").GetInt32();
        var medians = summary.GetProperty("llama_median");
        Assert.Contains(best, new[] { 1, 2 });
        double bestMedian = medians.GetProperty(best.ToString()).GetDouble();
        Assert.True(bestMedian >= medians.GetProperty((3 - best).ToString()).GetDouble());
        Assert.Equal(summary.GetProperty("seeksharp_median").GetDouble() / bestMedian, summary.GetProperty("ratio").GetDouble(), 9);
        Assert.Equal("f16", summary.GetProperty("type").GetString());
        Assert.Equal("bf16", summary.GetProperty("seeksharp_type").GetString());

        // A q8_0 file is compared with SeekSharp on the same blocks (a quantized copy), not with its bf16 matmuls.
        (code, output) = CliTests.Run("bench", "llama", "--model", dir, "--tokens", "4", "--rounds", "1", "--threads", "1", "--type", "q8_0", "--json");
        Assert.True(code == 0, output);
        summary = JsonLines(output).Single(l => l.TryGetProperty("ratio", out _));
        Assert.Equal("q8_0", summary.GetProperty("seeksharp_type").GetString());
        Assert.True(summary.GetProperty("seeksharp_median").GetDouble() > 0);
    }
}
