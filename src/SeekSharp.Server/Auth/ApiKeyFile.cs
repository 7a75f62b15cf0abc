using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using SeekSharp.IO;

namespace SeekSharp.Server.Auth;

// The keys file holds only SHA-256 hashes of the keys, so reading it does not give anyone a key; a new
// key is printed once by `seek serve keys add` and cannot be recovered. Keys are 32 random bytes, so an
// unsalted fast hash is enough (there is nothing to brute-force). The file is rewritten atomically, mode
// 0600, and an add reads, merges and writes it under an exclusive lock on KEYS.lock (flock on Unix,
// released by the kernel if the process dies), so concurrent `seek serve keys add` runs never lose a key.
//
// {"keys":[{"name":"alice","sha256":"<64 hex>","rpm":60,"budget_usd":5.0,"admin":true,"created":"2026-11-23T20:00:00Z"}]}
// rpm and budget_usd are optional: absent or null means unlimited. admin (default false) may read /metrics.

/// <summary>One key's identity and limits.</summary>
/// <param name="Rpm">Requests per minute to the generation endpoints; null = unlimited.</param>
/// <param name="BudgetUsd">Spend after which generation requests get 402; null = unlimited.</param>
/// <param name="Admin">May read /metrics, which shows every key's traffic and cost.</param>
public sealed record ApiKeyEntry(string Name, string Sha256, int? Rpm, double? BudgetUsd, DateTimeOffset Created, bool Admin = false);

/// <summary>Reads and appends to an API keys file.</summary>
public static class ApiKeyFile
{
    public const string Prefix = "sk-seek-";

    /// <summary>rw for the owner only: the keys, spend and journal files are nobody else's business.</summary>
    public const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>How long an add waits for another one to release the lock.</summary>
    static readonly TimeSpan LockWait = TimeSpan.FromSeconds(30);

    public static string Hash(string key) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));

    public static IReadOnlyList<ApiKeyEntry> Load(string path)
    {
        string text;
        try { text = File.ReadAllText(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SeekSharpException($"{path}: cannot read the API keys file ({e.Message}); create one with `seek serve keys add`.", e);
        }
        JsonNode? root;
        try { root = JsonNode.Parse(text); }
        catch (JsonException e) { throw new SeekSharpException($"{path}: malformed JSON ({e.Message}).", e); }
        if (root is not JsonObject obj || obj["keys"] is not JsonArray keys)
            throw new SeekSharpException($"{path}: keys: expected an object with a \"keys\" array.");
        var entries = new List<ApiKeyEntry>();
        for (int i = 0; i < keys.Count; i++)
        {
            var at = $"{path}: keys[{i}]";
            if (keys[i] is not JsonObject k) throw new SeekSharpException($"{at}: expected an object.");
            var name = Str(k, "name", at);
            if (name.Length == 0) throw new SeekSharpException($"{at}.name: expected a non-empty name.");
            var hash = Str(k, "sha256", at);
            if (hash.Length != 64 || !hash.All(Uri.IsHexDigit))
                throw new SeekSharpException($"{at}.sha256: expected 64 hex digits (the SHA-256 of the key).");
            int? rpm = k["rpm"] is null ? null : Num(k, "rpm", at) is var r && r >= 1 && r <= 1_000_000 && r == Math.Floor(r) ? (int)r
                : throw new SeekSharpException($"{at}.rpm: expected a whole number from 1 to 1000000 (requests per minute), or null for unlimited.");
            double? budget = k["budget_usd"] is null ? null : Num(k, "budget_usd", at) is var b && b >= 0 ? b
                : throw new SeekSharpException($"{at}.budget_usd: expected a number >= 0 (USD), or null for unlimited.");
            bool admin = k["admin"] is null ? false : k["admin"] is JsonValue av && av.GetValueKind() is JsonValueKind.True or JsonValueKind.False
                ? av.GetValue<bool>() : throw new SeekSharpException($"{at}.admin: expected true or false.");
            DateTimeOffset created = k["created"] is JsonValue cv && cv.TryGetValue<string>(out var cs) && DateTimeOffset.TryParse(cs, out var c) ? c : default;
            if (entries.Any(e => e.Name == name)) throw new SeekSharpException($"{at}.name: \"{name}\" is used by two keys; names must be unique.");
            if (entries.Any(e => e.Sha256 == hash.ToLowerInvariant())) throw new SeekSharpException($"{at}.sha256: the same key appears twice.");
            entries.Add(new ApiKeyEntry(name, hash.ToLowerInvariant(), rpm, budget, created, admin));
        }
        return entries;
    }

    /// <summary>Creates a key, adds its hash to <paramref name="path"/> (created if missing) and returns the key.</summary>
    public static string Add(string path, string name, int? rpm, double? budgetUsd, bool admin = false)
    {
        if (string.IsNullOrWhiteSpace(name)) throw new SeekSharpException("--name: expected a non-empty name.");
        if (rpm is < 1) throw new SeekSharpException($"--rpm: expected 1 or more requests per minute, got {rpm}.");
        if (budgetUsd is { } b && !(b >= 0)) throw new SeekSharpException($"--budget-usd: expected a number >= 0, got {b}.");
        using var held = Lock(path);
        var entries = File.Exists(path) ? Load(path).ToList() : [];
        if (entries.Any(e => e.Name == name)) throw new SeekSharpException($"{path}: a key named \"{name}\" already exists.");
        var key = Prefix + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(24));
        entries.Add(new ApiKeyEntry(name, Hash(key), rpm, budgetUsd, DateTimeOffset.UtcNow, admin));
        var keys = new JsonArray();
        foreach (var e in entries)
            keys.Add(new JsonObject
            {
                ["name"] = e.Name, ["sha256"] = e.Sha256, ["rpm"] = e.Rpm, ["budget_usd"] = e.BudgetUsd, ["admin"] = e.Admin,
                ["created"] = e.Created.ToUniversalTime().ToString("yyyy-MM-ddTHH:mm:ssZ"),
            });
        AtomicFile.WriteAllText(path, new JsonObject { ["keys"] = keys }.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n", Private);
        return key;
    }

    /// <summary>Takes the exclusive lock PATH.lock, waiting for another holder; dispose to release it.</summary>
    static FileStream Lock(string path)
    {
        var lockPath = Path.GetFullPath(path) + ".lock";
        Directory.CreateDirectory(Path.GetDirectoryName(lockPath)!);
        var options = new FileStreamOptions { Mode = FileMode.OpenOrCreate, Access = FileAccess.ReadWrite, Share = FileShare.None };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = Private;
        long start = System.Diagnostics.Stopwatch.GetTimestamp();
        while (true)
        {
            try { return new FileStream(lockPath, options); }
            catch (IOException e) when (e is not (FileNotFoundException or DirectoryNotFoundException))
            {
                if (System.Diagnostics.Stopwatch.GetElapsedTime(start) > LockWait)
                    throw new SeekSharpException($"{lockPath}: another `seek serve keys add` has held this lock for over {LockWait.TotalSeconds:0} s ({e.Message}).", e);
                Thread.Sleep(Random.Shared.Next(5, 25));
            }
        }
    }

    static string Str(JsonObject k, string field, string at) =>
        k[field] is JsonValue v && v.TryGetValue<string>(out var s) ? s : throw new SeekSharpException($"{at}.{field}: expected a string.");

    static double Num(JsonObject k, string field, string at) =>
        k[field] is JsonValue v && v.GetValueKind() == JsonValueKind.Number ? v.GetValue<double>() : throw new SeekSharpException($"{at}.{field}: expected a number.");
}
