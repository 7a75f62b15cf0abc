using System.Text.Json;
using System.Text.Json.Nodes;
using SeekSharp.IO;
using SeekSharp.Server.Api;

namespace SeekSharp.Server.Auth;

// Spend per key must survive a restart, or a budget would reset with the server. It lives in its own
// file beside the keys file (KEYS.usage.json), written only by the server, so `seek serve keys add` can
// edit the keys file while a server runs without the two overwriting each other. Writes are atomic
// (temp file + rename) and batched: at most one per second while requests finish, and one at shutdown.
// A crash can lose at most the last second of spend. Without a keys file, usage is kept in memory only
// under the name "anonymous".

/// <summary>What one caller has used since the ledger began.</summary>
public sealed record KeyUsage(long Requests, long PromptTokens, long CachedPromptTokens, long CompletionTokens, double SpentUsd)
{
    public static readonly KeyUsage Zero = new(0, 0, 0, 0, 0);
}

/// <summary>Usage totals per caller, optionally persisted.</summary>
public sealed class UsageLedger
{
    public const string Anonymous = "anonymous";
    readonly Dictionary<string, KeyUsage> totals;
    readonly string? path;
    readonly Lock gate = new();
    bool dirty;

    UsageLedger(string? path, Dictionary<string, KeyUsage> totals)
    {
        this.path = path;
        this.totals = totals;
    }

    public static UsageLedger InMemory() => new(null, []);

    /// <summary>The ledger that goes with a keys file: KEYS.usage.json, loaded if it exists.</summary>
    public static UsageLedger ForKeysFile(string keysPath) => Open(keysPath + ".usage.json");

    public static UsageLedger Open(string path)
    {
        var totals = new Dictionary<string, KeyUsage>();
        if (File.Exists(path))
        {
            JsonNode? root;
            try { root = JsonNode.Parse(File.ReadAllText(path)); }
            catch (JsonException e) { throw new SeekSharpException($"{path}: malformed JSON ({e.Message}); it holds spend per key, fix or remove it.", e); }
            if (root is not JsonObject obj || obj["keys"] is not JsonObject keys)
                throw new SeekSharpException($"{path}: keys: expected an object of usage per key name.");
            foreach (var (name, node) in keys)
            {
                try { totals[name] = node.Deserialize<KeyUsage>(ApiJson.Options) ?? KeyUsage.Zero; }
                catch (JsonException e) { throw new SeekSharpException($"{path}: keys.{name}: {e.Message}", e); }
            }
        }
        return new UsageLedger(path, totals);
    }

    public string? Path => path;

    public KeyUsage Get(string name)
    {
        lock (gate) return totals.GetValueOrDefault(name, KeyUsage.Zero);
    }

    public void Add(string name, ApiUsage u)
    {
        lock (gate)
        {
            var t = totals.GetValueOrDefault(name, KeyUsage.Zero);
            totals[name] = new KeyUsage(t.Requests + 1, t.PromptTokens + u.PromptTokens, t.CachedPromptTokens + u.PromptCacheHitTokens,
                t.CompletionTokens + u.CompletionTokens, t.SpentUsd + u.CostUsd);
            dirty = true;
        }
    }

    /// <summary>Writes the totals if they changed since the last flush (a no-op in memory).</summary>
    public void Flush()
    {
        if (path is null) return;
        string json;
        lock (gate)
        {
            if (!dirty) return;
            dirty = false;
            json = JsonSerializer.Serialize(new { keys = totals }, new JsonSerializerOptions(ApiJson.Options) { WriteIndented = true });
        }
        try { AtomicFile.WriteAllText(path, json + "\n"); }
        catch { lock (gate) dirty = true; throw; }
    }
}
