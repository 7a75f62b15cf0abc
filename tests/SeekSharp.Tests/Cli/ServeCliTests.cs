using System.Text.Json;
using SeekSharp.Server.Auth;

namespace SeekSharp.Tests.Cli;

/// <summary>`seek serve keys add`, early errors of `seek serve`, and `seek bench serve` end to end on a tiny model.</summary>
[Collection("Console")] // these tests redirect Console.Out
public class ServeCliTests : TempDirTest
{
    static (int Code, string Output) Run(params string[] args) => CliTests.Run(args);

    [Fact]
    public void KeysAddPrintsTheKeyOnceAndStoresItsHash()
    {
        var file = Path.Combine(NewDir(), "keys.json");
        var (code, output) = Run("serve", "keys", "add", "--file", file, "--name", "alice", "--rpm", "30", "--budget-usd", "2.5");
        Assert.Equal(0, code);
        var key = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Single(l => l.StartsWith(ApiKeyFile.Prefix));
        var entry = Assert.Single(ApiKeyFile.Load(file));
        Assert.Equal(("alice", 30, 2.5), (entry.Name, entry.Rpm!.Value, entry.BudgetUsd!.Value));
        Assert.Equal(ApiKeyFile.Hash(key), entry.Sha256);
        Assert.DoesNotContain(key, File.ReadAllText(file));
        Assert.Contains("30 requests/min", output);

        (code, output) = Run("serve", "keys", "add", "--file", file, "--name", "alice");
        Assert.Equal(1, code);
        Assert.Contains("already exists", output);
    }

    [Fact]
    public void ServeRejectsBadPricingAndKeysFilesBeforeLoadingTheModel()
    {
        var dir = NewDir();
        var prices = Path.Combine(dir, "prices.json");
        File.WriteAllText(prices, """{"input_cache_hit_per_million":0.1,"input_cache_miss_per_million":"cheap","output_per_million":1}""");
        var (code, output) = Run("serve", "--model", Path.Combine(dir, "no-model"), "--pricing", prices);
        Assert.Equal(1, code);
        Assert.Contains("input_cache_miss_per_million", output);

        var keys = Path.Combine(dir, "keys.json");
        File.WriteAllText(keys, """{"keys":[{"name":"a","sha256":"zz"}]}""");
        (code, output) = Run("serve", "--model", Path.Combine(dir, "no-model"), "--api-keys", keys);
        Assert.Equal(1, code);
        Assert.Contains("keys[0].sha256", output);

        (code, output) = Run("serve", "--model", Path.Combine(dir, "no-model"));
        Assert.Equal(1, code);
        Assert.Contains("no-model", output);
    }

    [Fact]
    public void BenchServeRunsClientsInProcessAndWritesJsonl()
    {
        using var folder = new SeekSharp.Tests.Alignment.ChatModelFolder();
        var model = folder.ModelDir;
        var jsonl = Path.Combine(NewDir(), "bench.jsonl");
        var (code, output) = Run("bench", "serve", "--model", model, "--clients", "1,2", "--requests", "2", "--max-tokens", "3", "--max-batch", "2", "--out", jsonl);
        Assert.True(code == 0, output);
        Assert.Contains("tok/s", output);
        Assert.Contains("bench.jsonl", output);
        var lines = File.ReadAllLines(jsonl).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(4, lines.Count(l => l.GetProperty("type").GetString() == "request"));
        var summaries = lines.Where(l => l.GetProperty("type").GetString() == "summary").Select(l => l.GetProperty("result")).ToList();
        Assert.Equal([1, 2], summaries.Select(s => s.GetProperty("clients").GetInt32()));
        Assert.All(summaries, s => Assert.Equal(0, s.GetProperty("failures").GetInt32()));
        Assert.All(summaries, s => Assert.True(s.GetProperty("tokens_per_second").GetDouble() > 0));

        (code, output) = Run("bench", "serve", "--clients", "1");
        Assert.Equal(1, code);
        Assert.Contains("--model or --url", output);
    }
}
