using System.Diagnostics;
using System.Text.Json;
using SeekSharp.Server;
using SeekSharp.Server.Api;
using SeekSharp.Server.Auth;
using SeekSharp.Server.Billing;
using static SeekSharp.Tests.Server.TestServing;

namespace SeekSharp.Tests.Server;

/// <summary>API keys: hashed storage, 401/429/402 in OpenAI's error shape, spend per key that survives a restart.</summary>
public class AuthTests : TempDirTest
{
    static readonly Pricing Dear = new(1000, 1000, 1000); // $0.001 per token: budgets run out in a few requests

    [Fact]
    public void KeysFileHoldsOnlyHashes()
    {
        var path = Path.Combine(NewDir(), "keys.json");
        var a = ApiKeyFile.Add(path, "alice", rpm: 10, budgetUsd: 2.5);
        var b = ApiKeyFile.Add(path, "bob", rpm: null, budgetUsd: null);
        Assert.StartsWith(ApiKeyFile.Prefix, a);
        Assert.NotEqual(a, b);
        var text = File.ReadAllText(path);
        Assert.DoesNotContain(a, text);
        Assert.DoesNotContain(a[ApiKeyFile.Prefix.Length..], text);
        var keys = ApiKeyFile.Load(path);
        Assert.Equal(new ApiKeyEntry("alice", ApiKeyFile.Hash(a), 10, 2.5, keys[0].Created), keys[0]);
        Assert.Null(keys[1].Rpm);
        Assert.Null(keys[1].BudgetUsd);
        Assert.Equal("alice", new ApiKeyRegistry(keys).Find(a)!.Name);
        Assert.Null(new ApiKeyRegistry(keys).Find(a + "x"));
        Assert.Contains("already exists", Assert.Throws<SeekSharpException>(() => ApiKeyFile.Add(path, "alice", null, null)).Message);
        Assert.Contains("--rpm", Assert.Throws<SeekSharpException>(() => ApiKeyFile.Add(path, "carol", 0, null)).Message);
    }

    [Theory]
    [InlineData("{", "malformed JSON")]
    [InlineData("""{"keys":5}""", "keys: expected")]
    [InlineData("""{"keys":[{"name":"a"}]}""", "keys[0].sha256")]
    [InlineData("""{"keys":[{"name":"a","sha256":"abc"}]}""", "keys[0].sha256: expected 64 hex")]
    [InlineData("""{"keys":[{"name":"a","sha256":"0000000000000000000000000000000000000000000000000000000000000000","rpm":0}]}""", "keys[0].rpm")]
    [InlineData("""{"keys":[{"name":"a","sha256":"0000000000000000000000000000000000000000000000000000000000000000","budget_usd":"5"}]}""", "keys[0].budget_usd")]
    public void MalformedKeysFileNamesTheField(string json, string expected)
    {
        var path = Path.Combine(NewDir(), "keys.json");
        File.WriteAllText(path, json);
        var e = Assert.Throws<SeekSharpException>(() => ApiKeyFile.Load(path));
        Assert.Contains(path, e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void RateWindowAllowsRpmRequestsInAnySixtySeconds()
    {
        var w = new RateWindow(2);
        long t0 = 1000, s = Stopwatch.Frequency;
        Assert.True(w.TryAcquire(t0, out _));
        Assert.True(w.TryAcquire(t0 + 10 * s, out _));
        Assert.False(w.TryAcquire(t0 + 20 * s, out var retry));
        Assert.Equal(40, retry.TotalSeconds, 3);
        Assert.True(w.TryAcquire(t0 + 60 * s, out _));   // the first one left the window
        Assert.False(w.TryAcquire(t0 + 61 * s, out _));
    }

    [Fact]
    public async Task KeysAreRequiredAndLimitsAnsweredWithOpenAiErrors()
    {
        var path = Path.Combine(NewDir(), "keys.json");
        var alice = ApiKeyFile.Add(path, "alice", rpm: 2, budgetUsd: null);
        var bob = ApiKeyFile.Add(path, "bob", rpm: null, budgetUsd: 0.001); // one request's worth at these prices
        using var factory = Factory(Answering("ok"), new ServerOptions { ApiKeysFile = path, Pricing = Dear });
        var http = factory.CreateClient();

        async Task<(int Status, JsonElement Error)> Post(string? key)
        {
            var res = await http.PostJson("/v1/chat/completions", Chat(), key);
            var j = await JsonOf(res);
            return ((int)res.StatusCode, j.TryGetProperty("error", out var e) ? e : default);
        }

        var (status, err) = await Post(null);
        Assert.Equal(401, status);
        Assert.Equal("missing_api_key", err.GetProperty("code").GetString());
        (status, err) = await Post("sk-seek-wrong");
        Assert.Equal(401, status);
        Assert.Equal("invalid_api_key", err.GetProperty("code").GetString());
        Assert.Equal(401, (int)(await http.GetAsync("/v1/models")).StatusCode);
        Assert.Equal(200, (int)(await http.GetAsync("/health")).StatusCode);   // open
        Assert.Equal(200, (int)(await http.GetAsync("/")).StatusCode);         // the page asks for a key itself
        Assert.Equal(401, (int)(await http.GetAsync("/metrics")).StatusCode);        // every key's spend: admin keys only
        Assert.Equal(403, (int)(await http.GetAsync("/metrics", alice)).StatusCode);

        Assert.Equal(200, (await Post(alice)).Status);
        Assert.Equal(200, (await Post(alice)).Status);
        var res = await http.PostJson("/v1/chat/completions", Chat(), alice);
        Assert.Equal(429, (int)res.StatusCode);
        Assert.True(int.Parse(res.Headers.RetryAfter!.ToString()) is > 0 and <= 60);
        err = (await JsonOf(res)).GetProperty("error");
        Assert.Equal("rate_limit_exceeded", err.GetProperty("code").GetString());
        Assert.Equal("requests", err.GetProperty("type").GetString());
        Assert.Equal(200, (int)(await http.GetAsync("/v1/usage", alice)).StatusCode); // reading usage is not rate limited

        Assert.Equal(200, (await Post(bob)).Status);           // spend 0 < budget: admitted, and it costs more than the budget
        (status, err) = await Post(bob);
        Assert.Equal(402, status);
        Assert.Equal("insufficient_quota", err.GetProperty("type").GetString());
        Assert.Equal("insufficient_balance", err.GetProperty("code").GetString());

        var usage = await JsonOf(await http.GetAsync("/v1/usage", bob));
        Assert.Equal("bob", usage.GetProperty("key").GetString());
        Assert.Equal(1, usage.GetProperty("requests").GetInt32());
        Assert.Equal(0.001, usage.GetProperty("budget_usd").GetDouble());
        Assert.Equal(0, usage.GetProperty("remaining_usd").GetDouble());
        Assert.Equal(1000, usage.GetProperty("pricing").GetProperty("output_per_million").GetDouble());
    }

    [Fact]
    public async Task SpendPerKeyIsPersistedAndSurvivesARestart()
    {
        var path = Path.Combine(NewDir(), "keys.json");
        var alice = ApiKeyFile.Add(path, "alice", rpm: null, budgetUsd: 100);
        double cost = 0;
        using (var factory = Factory(Answering("ok"), new ServerOptions { ApiKeysFile = path, Pricing = Dear }))
        {
            var http = factory.CreateClient();
            for (int i = 0; i < 3; i++)
                cost += (await JsonOf(await http.PostJson("/v1/chat/completions", Chat(), alice))).GetProperty("usage").GetProperty("cost_usd").GetDouble();
            var u = await JsonOf(await http.GetAsync("/v1/usage", alice));
            Assert.Equal(cost, u.GetProperty("spent_usd").GetDouble(), 12);
            Assert.Equal(100 - cost, u.GetProperty("remaining_usd").GetDouble(), 12);
        } // stopping the host flushes the ledger
        var ledger = JsonDocument.Parse(File.ReadAllText(path + ".usage.json")).RootElement.GetProperty("keys").GetProperty("alice");
        Assert.Equal(3, ledger.GetProperty("requests").GetInt32());
        Assert.Equal(cost, ledger.GetProperty("spent_usd").GetDouble(), 12);

        using (var factory = Factory(Answering("ok"), new ServerOptions { ApiKeysFile = path, Pricing = Dear }))
        {
            var u = await JsonOf(await factory.CreateClient().GetAsync("/v1/usage", alice));
            Assert.Equal(3, u.GetProperty("requests").GetInt32());
            Assert.Equal(cost, u.GetProperty("spent_usd").GetDouble(), 12);
        }
    }

    static ApiUsage Usage(int prompt, int completion, double cost) =>
        new(prompt, completion, prompt + completion, 0, prompt, new PromptTokensDetails(0), new CompletionTokensDetails(0), cost);

    [Fact]
    public async Task UsageJournalIsReplayedOnceAndATornLastLineIsDropped()
    {
        var snapshot = Path.Combine(NewDir(), "keys.json.usage.json");
        var journal = snapshot[..^5] + ".journal";
        var ledger = UsageLedger.Open(snapshot);
        await ledger.AddAsync("alice", Usage(10, 2, 0.5));
        await ledger.AddAsync("bob", Usage(1, 1, 0.25));
        await ledger.AddAsync("alice", Usage(5, 3, 0.125));
        Assert.Equal(3, File.ReadAllLines(journal).Length);   // durable once AddAsync completed, before any compaction
        var journalBytes = File.ReadAllBytes(journal);
        // A kill now: the snapshot is the one written at open (empty), the journal holds the three lines.
        var snapshotBytes = File.ReadAllBytes(snapshot);
        await ledger.DisposeAsync();
        File.WriteAllBytes(snapshot, snapshotBytes);
        File.WriteAllBytes(journal, [.. journalBytes, .. "{\"seq\":4,\"key\":\"alice\",\"prom"u8]);   // torn: never acknowledged

        var replayed = UsageLedger.Open(snapshot);
        Assert.Equal(new KeyUsage(2, 15, 0, 5, 0.625), replayed.Get("alice"));
        Assert.Equal(new KeyUsage(1, 1, 0, 1, 0.25), replayed.Get("bob"));
        Assert.Equal(0, new FileInfo(journal).Length);        // compacted into the snapshot at open
        Assert.Contains(".usage.lock", Assert.Throws<SeekSharpException>(() => UsageLedger.Open(snapshot)).Message); // one server per file
        await replayed.DisposeAsync();

        // A crash after the snapshot was written but before the journal was emptied: the lines are not counted twice.
        var compacted = File.ReadAllBytes(snapshot);
        File.WriteAllBytes(journal, journalBytes);
        var again = UsageLedger.Open(snapshot);
        Assert.Equal(new KeyUsage(2, 15, 0, 5, 0.625), again.Get("alice"));
        await again.DisposeAsync();
        Assert.Equal(compacted, File.ReadAllBytes(snapshot));

        File.WriteAllText(journal, "{\"seq\":9,\"key\":\"alice\",\"cost_usd\":1}\nnot json\n");
        var e = Assert.Throws<SeekSharpException>(() => UsageLedger.Open(snapshot));
        Assert.Contains(journal + ":2", e.Message);
    }
}
