using System.Net.Http.Headers;
using System.Text;
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

        (code, output) = Run("serve", "keys", "add", "--file", file, "--name", "ops", "--admin");
        Assert.Equal(0, code);
        Assert.Contains("admin", output);
        Assert.Equal([false, true], ApiKeyFile.Load(file).Select(k => k.Admin));
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

    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    static UnixFileMode ModeOf(string path) => File.GetUnixFileMode(path) & (UnixFileMode)0x1FF;

    [Fact]
    public void ConcurrentKeysAddProcessesKeepEveryKeyInAPrivateFile()
    {
        var file = Path.Combine(NewDir(), "keys.json");
        var children = Enumerable.Range(0, 8).Select(i => new SeekProcess("serve", "keys", "add", "--file", file, "--name", $"k{i}")).ToList();
        var runs = children.Select(c => { using (c) return (Code: c.WaitForExit(), c.Stdout, c.Stderr); }).ToList();
        Assert.All(runs, r => Assert.True(r.Code == 0, r.Stdout + r.Stderr));
        var printed = runs.Select(r => r.Stdout.Split('\n').Select(l => l.Trim()).Single(l => l.StartsWith(ApiKeyFile.Prefix, StringComparison.Ordinal))).ToList();
        var stored = ApiKeyFile.Load(file);
        Assert.Equal(Enumerable.Range(0, 8).Select(i => $"k{i}").Order(), stored.Select(k => k.Name).Order());
        Assert.Equal(printed.Select(ApiKeyFile.Hash).Order(), stored.Select(k => k.Sha256).Order());
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, ModeOf(file));
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, ModeOf(file + ".lock"));
        }
    }

    [Fact]
    public async Task AnsweredSpendSurvivesASigkillOfTheServer()
    {
        using var folder = new SeekSharp.Tests.Alignment.ChatModelFolder();
        var dir = NewDir();
        var keys = Path.Combine(dir, "keys.json");
        var key = ApiKeyFile.Add(keys, "alice", rpm: null, budgetUsd: 1000);
        var prices = Path.Combine(dir, "prices.json");
        File.WriteAllText(prices, """{"input_cache_hit_per_million":333,"input_cache_miss_per_million":1000,"output_per_million":7000}""");
        string[] args = ["serve", "--model", folder.ModelDir, "--name", "tiny", "--port", "0", "--api-keys", keys, "--pricing", prices,
            "--device", "cpu", "--precision", "fp32", "--max-batch", "2"];
        using var http = new HttpClient();
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);

        const int n = 6;
        double spent = 0;
        using (var server = new SeekProcess(args))
        {
            var url = server.WaitForLine(@"(http://127\.0\.0\.1:\d+)/").Groups[1].Value;
            for (int i = 0; i < n; i++)
            {
                bool stream = i % 3 == 2;
                var body = $$"""{"model":"tiny","messages":[{"role":"user","content":"request {{i}}"}],"max_tokens":3,"temperature":0,"stream":{{(stream ? "true,\"stream_options\":{\"include_usage\":true}" : "false")}}}""";
                var res = await http.PostAsync(url + "/v1/chat/completions", new StringContent(body, Encoding.UTF8, "application/json"));
                var text = await res.Content.ReadAsStringAsync();
                Assert.True(res.IsSuccessStatusCode, text);
                var json = stream ? text.Split("\n\n").Select(e => e.Replace("data: ", "")).Where(e => e.Contains("\"usage\":{")).Single() : text;
                spent += JsonDocument.Parse(json).RootElement.GetProperty("usage").GetProperty("cost_usd").GetDouble();
            }
            server.Kill();   // SIGKILL right after the last answer: no shutdown flush
        }
        Assert.True(spent > 0);
        if (!OperatingSystem.IsWindows())
            foreach (var f in new[] { keys, keys + ".usage.json", keys + ".usage.journal" })
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, ModeOf(f));

        using (var server = new SeekProcess(args))
        {
            var url = server.WaitForLine(@"(http://127\.0\.0\.1:\d+)/").Groups[1].Value;
            var usage = JsonDocument.Parse(await http.GetStringAsync(url + "/v1/usage")).RootElement;
            server.Kill();
            Assert.Equal(n, usage.GetProperty("requests").GetInt32());
            Assert.Equal(spent, usage.GetProperty("spent_usd").GetDouble());   // exactly: the same sums in the same order
        }
        // The restart compacted the journal into the snapshot.
        var snapshot = JsonDocument.Parse(File.ReadAllText(keys + ".usage.json")).RootElement;
        Assert.Equal(n, snapshot.GetProperty("keys").GetProperty("alice").GetProperty("requests").GetInt32());
        Assert.Equal(spent, snapshot.GetProperty("keys").GetProperty("alice").GetProperty("spent_usd").GetDouble());
    }
}
