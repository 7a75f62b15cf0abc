using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using SeekSharp.IO;
using SeekSharp.Server.Api;

namespace SeekSharp.Server.Auth;

// Spend per key must survive a restart and a crash, or a budget would reset with the server and a kill
// would give away what was answered. Two files beside the keys file, written only by the server (so
// `seek serve keys add` can edit the keys file while a server runs), both mode 0600:
//   KEYS.usage.journal  one JSON line per answered request {"seq","key","prompt_tokens",...,"cost_usd"};
//                       a request's line is fsynced (group commit, see UsageJournal) before AddAsync
//                       completes, and the endpoints send the end of a response only after that.
//   KEYS.usage.json     the snapshot {"journal_seq": N, "keys": {name: totals}}, written atomically.
// At start the snapshot is read, the journal's lines with seq > N are replayed (a torn last line was never
// acknowledged and is dropped), the snapshot is rewritten and the journal emptied; the same compaction
// runs when the journal passes 1 MiB and at shutdown. KEYS.usage.lock is held exclusively while the
// server runs, so a second server on the same keys file is refused. Without a keys file, usage is kept in memory only under the
// name "anonymous".

/// <summary>What one caller has used since the ledger began.</summary>
public sealed record KeyUsage(long Requests, long PromptTokens, long CachedPromptTokens, long CompletionTokens, double SpentUsd)
{
    public static readonly KeyUsage Zero = new(0, 0, 0, 0, 0);
}

/// <summary>Usage totals per caller, optionally persisted (snapshot + journal).</summary>
public sealed class UsageLedger : IAsyncDisposable
{
    public const string Anonymous = "anonymous";
    readonly Dictionary<string, KeyUsage> totals;
    readonly string? path;
    readonly Lock gate = new();
    readonly UsageJournal? journal;
    long seq;

    /// <summary>One journal line: the request's usage, numbered so replay can skip what the snapshot holds.</summary>
    sealed record Entry(long Seq, string Key, long PromptTokens, long CachedPromptTokens, long CompletionTokens, double CostUsd);

    UsageLedger(string? path, Dictionary<string, KeyUsage> totals, long seq, FileStream? journalFile, FileStream? held)
    {
        this.path = path;
        this.totals = totals;
        this.seq = seq;
        if (journalFile is not null) journal = new UsageJournal(journalFile, held!, WriteSnapshot);
    }

    public static UsageLedger InMemory() => new(null, [], 0, null, null);

    /// <summary>The ledger that goes with a keys file: KEYS.usage.json and KEYS.usage.journal, replayed if they exist.</summary>
    public static UsageLedger ForKeysFile(string keysPath) => Open(keysPath + ".usage.json");

    /// <summary>Opens the snapshot at <paramref name="path"/> and its journal (PATH minus ".json" plus ".journal"), replays and compacts.</summary>
    public static UsageLedger Open(string path)
    {
        var journalPath = JournalPath(path);
        var lockPath = System.IO.Path.ChangeExtension(journalPath, ".lock");
        FileStream held, file;
        try { held = OpenPrivate(lockPath, FileShare.None); }
        catch (IOException e) when (e is not (FileNotFoundException or DirectoryNotFoundException))
        {
            throw new SeekSharpException($"{lockPath}: held by another server (one `seek serve` per keys file) ({e.Message}).", e);
        }
        try
        {
            // Others may read the journal (a user, a test), never write it.
            file = OpenPrivate(journalPath, FileShare.Read);
        }
        catch
        {
            held.Dispose();
            throw;
        }
        try
        {
            var (totals, seq) = ReadSnapshot(path);
            seq = Replay(file, journalPath, totals, seq);
            var ledger = new UsageLedger(path, totals, seq, file, held);
            ledger.journal!.Compact();
            file.Seek(0, SeekOrigin.End);
            return ledger;
        }
        catch
        {
            file.Dispose();
            held.Dispose();
            throw;
        }
    }

    static FileStream OpenPrivate(string path, FileShare share)
    {
        var options = new FileStreamOptions { Mode = FileMode.OpenOrCreate, Access = FileAccess.ReadWrite, Share = share };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = ApiKeyFile.Private;
        return new FileStream(path, options);
    }

    static string JournalPath(string snapshotPath) =>
        (snapshotPath.EndsWith(".json", StringComparison.Ordinal) ? snapshotPath[..^5] : snapshotPath) + ".journal";

    static (Dictionary<string, KeyUsage> Totals, long Seq) ReadSnapshot(string path)
    {
        var totals = new Dictionary<string, KeyUsage>();
        if (!File.Exists(path)) return (totals, 0);
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
        long seq = obj["journal_seq"] is JsonValue v && v.TryGetValue<long>(out var s) && s >= 0 ? s
            : obj["journal_seq"] is null ? 0 : throw new SeekSharpException($"{path}: journal_seq: expected a whole number >= 0.");
        return (totals, seq);
    }

    /// <summary>Applies the journal's lines numbered above <paramref name="seq"/>; returns the highest number seen.</summary>
    static long Replay(FileStream file, string journalPath, Dictionary<string, KeyUsage> totals, long seq)
    {
        file.Position = 0;
        var bytes = new byte[file.Length];
        file.ReadExactly(bytes);
        var lines = Encoding.UTF8.GetString(bytes).Split('\n');
        // The last element follows the last '\n': empty, or a torn line whose append was never acknowledged.
        for (int i = 0; i < lines.Length - 1; i++)
        {
            if (lines[i].Length == 0) continue;
            Entry? e;
            try { e = JsonSerializer.Deserialize<Entry>(lines[i], ApiJson.Options); }
            catch (JsonException ex) { throw new SeekSharpException($"{journalPath}:{i + 1}: malformed usage line ({ex.Message}); it holds spend per key, fix or remove it.", ex); }
            if (e is null || e.Key is null) throw new SeekSharpException($"{journalPath}:{i + 1}: expected a usage object with \"seq\" and \"key\".");
            if (e.Seq <= seq) continue;
            Apply(totals, e);
            seq = e.Seq;
        }
        return seq;
    }

    static void Apply(Dictionary<string, KeyUsage> totals, Entry e)
    {
        var t = totals.GetValueOrDefault(e.Key, KeyUsage.Zero);
        totals[e.Key] = new KeyUsage(t.Requests + 1, t.PromptTokens + e.PromptTokens, t.CachedPromptTokens + e.CachedPromptTokens,
            t.CompletionTokens + e.CompletionTokens, t.SpentUsd + e.CostUsd);
    }

    public string? Path => path;

    public KeyUsage Get(string name)
    {
        lock (gate) return totals.GetValueOrDefault(name, KeyUsage.Zero);
    }

    /// <summary>Books one answered request; completes once it is durable (at once in memory).</summary>
    public Task AddAsync(string name, ApiUsage u)
    {
        byte[] line;
        lock (gate)
        {
            var e = new Entry(++seq, name, u.PromptTokens, u.PromptCacheHitTokens, u.CompletionTokens, u.CostUsd);
            Apply(totals, e);
            if (journal is null) return Task.CompletedTask;
            line = [.. JsonSerializer.SerializeToUtf8Bytes(e, ApiJson.Options), (byte)'\n'];
        }
        return journal.AppendAsync(line);
    }

    /// <summary>Writes the totals and the sequence number they include, atomically (called by the journal's writer).</summary>
    void WriteSnapshot()
    {
        string json;
        lock (gate)
            json = JsonSerializer.Serialize(new { journalSeq = seq, keys = totals }, new JsonSerializerOptions(ApiJson.Options) { WriteIndented = true });
        AtomicFile.WriteAllText(path!, json + "\n", ApiKeyFile.Private);
    }

    /// <summary>Writes what is queued, compacts into the snapshot and releases the journal.</summary>
    public ValueTask DisposeAsync() => journal?.DisposeAsync() ?? ValueTask.CompletedTask;
}
