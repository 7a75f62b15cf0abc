using SeekSharp.Ledger;
using SeekSharp.Modeling;
using SeekSharp.Server.Api;

namespace SeekSharp.Server.Billing;

// The server's run ledger (RunLedger, kind "serve", from start to shutdown) and each key's part of it since the server
// started. The shared figures (wall and CPU time, energy) are measured once for the process and split by computed
// tokens (LedgerServing); FLOPs are counted per key from its tokens through ModelCost, at the full context (the same
// upper-bound accounting as every other ledger figure), with prefix-cache hits not counted: the engine skipped them.
// A key's part is itself a LedgerEntry, so /v1/usage prices it through the same profile and LedgerResources code as
// any run. Tokens in /v1/usage's top level are all-time (the persisted usage ledger); these cover this server's run.

/// <summary>The serving share of compute, network and energy, per API key, and the server's own ledger.json.</summary>
public sealed class ServingLedger : IDisposable
{
    public const string Kind = "serve";
    readonly RunLedger run;
    readonly double flopsPerToken;
    readonly Lock gate = new();
    readonly Dictionary<string, LedgerServingKey> keys = new(StringComparer.Ordinal);
    long bytesReceived, bytesSent;

    public ServingLedger(ModelConfig config, HardwareProfile hardware)
    {
        Hardware = hardware;
        flopsPerToken = ModelCost.Of(config).ForwardFlopsPerToken;
        run = RunLedger.Start(Kind, hardware);
    }

    public HardwareProfile Hardware { get; }

    /// <summary>Books one answered request's tokens to <paramref name="key"/>.</summary>
    public void AddGeneration(string key, ApiUsage u)
    {
        long computed = u.PromptCacheMissTokens + u.CompletionTokens;
        run.AddTokens(u.PromptTokens + u.CompletionTokens);
        run.AddFlops(computed * flopsPerToken);
        lock (gate)
        {
            var k = keys.GetValueOrDefault(key) ?? new LedgerServingKey();
            keys[key] = k with
            {
                Requests = k.Requests + 1, PromptTokens = k.PromptTokens + u.PromptTokens, CachedPromptTokens = k.CachedPromptTokens + u.PromptCacheHitTokens,
                CompletionTokens = k.CompletionTokens + u.CompletionTokens, ModelFlops = k.ModelFlops + computed * flopsPerToken,
            };
        }
    }

    /// <summary>Books HTTP body bytes as they pass; <paramref name="key"/> null: no key known (a rejected request), counted in the server's totals only.</summary>
    public void AddTraffic(string? key, long received, long sent)
    {
        lock (gate)
        {
            bytesReceived += received;
            bytesSent += sent;
            if (key is null) return;
            var k = keys.GetValueOrDefault(key) ?? new LedgerServingKey();
            keys[key] = k with { BytesReceived = k.BytesReceived + received, BytesSent = k.BytesSent + sent };
        }
    }

    /// <summary>Every key's figures with its share of the computed tokens.</summary>
    public LedgerServing Serving()
    {
        lock (gate)
        {
            long total = keys.Values.Sum(k => k.ComputedTokens);
            return new LedgerServing
            {
                Keys = keys.ToDictionary(kv => kv.Key, kv => kv.Value with { Share = total == 0 ? 0 : (double)kv.Value.ComputedTokens / total }, StringComparer.Ordinal),
            };
        }
    }

    /// <summary>The part of the server's run so far that is <paramref name="key"/>'s: its tokens, FLOPs and bytes, and its
    /// share of the wall time, CPU time and energy; priced by the server's profile.</summary>
    public LedgerEntry Share(string key)
    {
        var whole = run.Snapshot();
        var k = Serving().Keys.GetValueOrDefault(key) ?? new LedgerServingKey();
        var entry = LedgerEntry.Compute(Kind, whole.StartedUtc, whole.EndedUtc, whole.WallSeconds * k.Share, whole.CpuSeconds * k.Share,
            k.PromptTokens + k.CompletionTokens, k.ModelFlops, whole.EnergyKwh * 3.6e6 * k.Share, whole.EnergyMethod, Hardware);
        return entry with { Network = Network(k.BytesSent, k.BytesReceived), Serving = new LedgerServing { Keys = new() { [key] = k } } };
    }

    /// <summary>Stops the clocks: the server's whole run, with every key's part (what `seek serve --ledger` writes on shutdown).</summary>
    public LedgerEntry Finish()
    {
        var entry = run.Finish();
        lock (gate) return entry with { Network = Network(bytesSent, bytesReceived), Serving = Serving() };
    }

    static LedgerNetwork Network(long sent, long received) => new() { MeasuredAt = "http body", BytesSent = sent, BytesReceived = received };

    public void Dispose() => run.Dispose();
}
