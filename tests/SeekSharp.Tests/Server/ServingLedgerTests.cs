using System.Text;
using System.Text.Json;
using SeekSharp.Ledger;
using SeekSharp.Modeling;
using SeekSharp.Server;
using SeekSharp.Server.Auth;
using static SeekSharp.Tests.Server.TestServing;

namespace SeekSharp.Tests.Server;

/// <summary>The serving share of compute, network and energy per key in /v1/usage, and the server's ledger.json, through the real pipeline.</summary>
public class ServingLedgerTests : TempDirTest
{
    static readonly HardwareProfile Priced = HardwareProfile.Default with { UsdPerGbEgress = 1000 }; // so a few kB show in dollars

    [Fact]
    public async Task UsageSplitsTheServersRunByKeyAndTheLedgerCarriesTheTotals()
    {
        var dir = NewDir();
        var keysPath = Path.Combine(dir, "keys.json");
        var alice = ApiKeyFile.Add(keysPath, "alice", rpm: null, budgetUsd: null);
        var bob = ApiKeyFile.Add(keysPath, "bob", rpm: null, budgetUsd: null);
        var ledgerPath = Path.Combine(dir, "ledger.json");
        var engine = Answering("one two three four");
        var factory = Factory(engine, new ServerOptions { ApiKeysFile = keysPath, Hardware = Priced, LedgerPath = ledgerPath });
        var http = factory.CreateClient();

        var sent = new Dictionary<string, (long Request, long Response, long Computed)> { ["alice"] = default, ["bob"] = default };
        async Task Ask(string name, string key, string content, string extra = "")
        {
            var body = Chat(content, extra);
            var res = await http.PostJson("/v1/chat/completions", body, key);
            var bytes = await res.Content.ReadAsByteArrayAsync();
            var usage = JsonDocument.Parse(bytes).RootElement.GetProperty("usage");
            var computed = usage.GetProperty("prompt_cache_miss_tokens").GetInt64() + usage.GetProperty("completion_tokens").GetInt64();
            var s = sent[name];
            sent[name] = (s.Request + Encoding.UTF8.GetByteCount(body), s.Response + bytes.Length, s.Computed + computed);
        }
        await Ask("alice", alice, "hello there");
        await Ask("alice", alice, "a longer question with more words in it", """, "n": 2""");
        await Ask("bob", bob, "hi");
        Assert.Equal(401, (int)(await http.PostJson("/v1/chat/completions", Chat(), "sk-wrong")).StatusCode); // no key: server totals only
        Assert.True((await http.GetAsync("/health")).IsSuccessStatusCode);                                  // no key asked: server totals only

        var usageBytes = await (await http.GetAsync("/v1/usage", alice)).Content.ReadAsByteArrayAsync();
        var u = JsonDocument.Parse(usageBytes).RootElement.GetProperty("resources"); // written before its own bytes were counted
        var (aliceRequest, aliceResponse, aliceComputed) = sent["alice"];
        Assert.Equal(aliceRequest, u.GetProperty("bytes_received").GetInt64());
        Assert.Equal(aliceResponse, u.GetProperty("bytes_sent").GetInt64());
        Assert.Equal(2, u.GetProperty("requests").GetInt64());
        Assert.Equal((double)aliceComputed / (aliceComputed + sent["bob"].Computed), u.GetProperty("share").GetDouble(), 12);
        Assert.Equal(Priced.Name, u.GetProperty("hardware").GetString());

        var lines = u.GetProperty("lines").EnumerateArray().ToDictionary(l => l.GetProperty("resource").GetString() + "/" + l.GetProperty("quantity").GetString());
        Assert.Equal(ResourceLine.Resources.ToHashSet(), lines.Values.Select(l => l.GetProperty("resource").GetString()!).ToHashSet());
        var flopsPerToken = ModelCost.Of(engine.Config).ForwardFlopsPerToken;
        Assert.Equal(aliceComputed * flopsPerToken, lines["compute/model FLOPs"].GetProperty("value").GetDouble(), 1e-6 * aliceComputed * flopsPerToken);
        var network = lines["network/bytes sent and received"];
        Assert.Equal(aliceRequest + aliceResponse, network.GetProperty("value").GetInt64());
        Assert.Equal(aliceResponse / 1e9 * 1000, network.GetProperty("usd").GetDouble(), 12);
        Assert.Equal("measured", network.GetProperty("method").GetString());
        Assert.True(lines["compute/CPU core-seconds"].GetProperty("value").GetDouble() > 0); // the process's CPU time, its share of it
        Assert.True(lines["energy/energy"].GetProperty("value").GetDouble() > 0);
        var money = lines["money/US dollars"].GetProperty("usd").GetDouble();
        Assert.Equal(lines.Values.Where(l => l.GetProperty("resource").GetString() != "money" && l.GetProperty("usd").ValueKind == JsonValueKind.Number)
            .Sum(l => l.GetProperty("usd").GetDouble()), money, 12);

        var b = (await JsonOf(await http.GetAsync("/v1/usage", bob))).GetProperty("resources");
        Assert.Equal(1, b.GetProperty("share").GetDouble() + u.GetProperty("share").GetDouble(), 12);

        Assert.False(File.Exists(ledgerPath));
        factory.Dispose(); // stops the host: the ledger is written
        var entry = LedgerEntry.Read(ledgerPath);
        Assert.Equal("serve", entry.Kind);
        Assert.Equal(2, entry.Serving!.Keys["alice"].Requests);
        Assert.Equal(["alice", "bob"], entry.Serving.Keys.Keys.Order());                                  // no "anonymous" for the /health poll
        Assert.Equal(aliceResponse + usageBytes.Length, entry.Serving.Keys["alice"].BytesSent);
        Assert.Equal(entry.Serving.Keys.Values.Sum(k => k.PromptTokens + k.CompletionTokens), entry.Tokens);
        Assert.Equal(entry.Serving.Keys.Values.Sum(k => k.ModelFlops), entry.ModelFlops, 1e-6 * entry.ModelFlops);
        // The 401's error body is the server's traffic but no key's; its request body was never read (the gate refused it first).
        Assert.True(entry.Network!.BytesSent > entry.Serving.Keys.Values.Sum(k => k.BytesSent));
        Assert.Equal(entry.Serving.Keys.Values.Sum(k => k.BytesReceived), entry.Network.BytesReceived);
        Assert.Equal("http body", entry.Network.MeasuredAt);
        Assert.Contains("\"serving\"", File.ReadAllText(ledgerPath));
    }

    [Fact]
    public async Task WithoutKeysEverythingIsAnonymousAndNoLedgerIsWrittenUnlessAsked()
    {
        using var factory = Factory(Answering("ok"));
        var http = factory.CreateClient();
        await http.PostJson("/v1/chat/completions", Chat());
        var u = (await JsonOf(await http.GetAsync("/v1/usage"))).GetProperty("resources");
        Assert.Equal(1, u.GetProperty("share").GetDouble());
        Assert.Equal(1, u.GetProperty("requests").GetInt64());
        Assert.True(u.GetProperty("bytes_sent").GetInt64() > 0);
    }
}
