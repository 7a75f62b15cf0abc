// Design: the storage side of a run's bill. Every artifact a command writes (weights, checkpoints, token
// shards, exports, reports) is recorded once by path, its size read from disk right after it was written,
// so the ledger never trusts a writer's own count. A path recorded again (a report regenerated, a model
// saved over) replaces its entry: "written" is the bytes of every distinct artifact as last written,
// deleted ones included (checkpoints pruned by keep_checkpoints), "kept" is what is still on disk when
// the bill is drawn up. Paths are relative to the run folder (the folder of ledger.json), with '/', so
// a run folder moved or copied keeps a valid ledger. Totals are derived from the artifacts, never
// stored apart from them: a ledger.json whose totals disagree with its artifacts is refused.

using System.Globalization;
using System.Text.Json.Serialization;

namespace SeekSharp.Ledger;

/// <summary>The kinds of artifact the storage ledger sums separately.</summary>
public static class StorageKind
{
    /// <summary>Final model weights (model.safetensors, a reward head, LoRA adapters).</summary>
    public const string Weights = "weights";
    /// <summary>Resumable checkpoints (checkpoints/step_NNNNNN/, weights and optimizer moments).</summary>
    public const string Checkpoint = "checkpoint";
    /// <summary>Data a command made: token shards, documents, samples.</summary>
    public const string Data = "data";
    /// <summary>A model in another program's format (GGUF).</summary>
    public const string Export = "export";
    /// <summary>report.md, its plots, evaluation results.</summary>
    public const string Report = "report";
    /// <summary>Anything else: config.json, tokenizer files, metrics.jsonl.</summary>
    public const string Other = "other";

    /// <summary>Every kind, in the order the report lists them.</summary>
    public static readonly IReadOnlyList<string> All = [Weights, Checkpoint, Data, Export, Report, Other];
}

/// <summary>One file or folder a command wrote.</summary>
public sealed record StorageArtifact
{
    /// <summary>Relative to the run folder, '/'-separated ("../data" for a recipe's data beside it; absolute only on another drive).</summary>
    public required string Path { get; init; }
    /// <summary>One of <see cref="StorageKind.All"/>.</summary>
    public required string Kind { get; init; }
    /// <summary>Bytes as written (a folder: all its files).</summary>
    public required long Bytes { get; init; }
    /// <summary>Whether it was still on disk when the ledger was drawn up (false: e.g. a pruned checkpoint).</summary>
    public required bool Kept { get; init; }
}

/// <summary>Bytes written and bytes kept of one kind.</summary>
public sealed record StorageTotal
{
    /// <summary>Sum of the artifacts' bytes, deleted ones included.</summary>
    public required long WrittenBytes { get; init; }
    /// <summary>Sum of the bytes of the artifacts still on disk.</summary>
    public required long KeptBytes { get; init; }
}

/// <summary>The storage section of a ledger: each artifact, and the totals per kind and overall.</summary>
public sealed record LedgerStorage
{
    /// <summary>The artifacts, in the order they were first written.</summary>
    public required IReadOnlyList<StorageArtifact> Artifacts { get; init; }
    /// <summary>Totals per kind present (keys from <see cref="StorageKind.All"/>).</summary>
    public required IReadOnlyDictionary<string, StorageTotal> ByKind { get; init; }
    /// <summary>Sum of every artifact's bytes.</summary>
    public required long WrittenBytes { get; init; }
    /// <summary>Sum of the kept artifacts' bytes.</summary>
    public required long KeptBytes { get; init; }
    /// <summary>Peak disk use: the largest total of this run's artifacts on disk at once (checkpoints not yet rotated out
    /// included), measured each time an artifact was recorded and when the bill was drawn up; null in ledgers written
    /// before it was kept.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public long? PeakBytes { get; init; }

    /// <summary>The model files a compressing or converting command read (quantize, prune, export), so the saving is
    /// in the ledger: <see cref="SavingRatio"/>. Null for commands that make a model from data.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public IReadOnlyList<StorageArtifact>? Sources { get; init; }

    /// <summary>Weights and exports written over the source's bytes (0.27 for a q4_0 model of bf16 weights); null without sources.</summary>
    public double? SavingRatio() => Sources is { Count: > 0 } src && src.Sum(a => a.Bytes) is > 0 and var total
        ? (double)ByKind.Where(kv => kv.Key is StorageKind.Weights or StorageKind.Export).Sum(kv => kv.Value.WrittenBytes) / total
        : null;

    /// <summary>Totals derived from <paramref name="artifacts"/>; a later entry for a path replaces an earlier one in place.</summary>
    public static LedgerStorage Of(IEnumerable<StorageArtifact> artifacts, IEnumerable<StorageArtifact>? sources = null)
    {
        var byPath = ByPath(artifacts);
        var byKind = StorageKind.All.Where(k => byPath.Any(a => a.Kind == k)).ToDictionary(k => k, k => new StorageTotal
        {
            WrittenBytes = byPath.Where(a => a.Kind == k).Sum(a => a.Bytes),
            KeptBytes = byPath.Where(a => a.Kind == k && a.Kept).Sum(a => a.Bytes),
        });
        return new LedgerStorage
        {
            Artifacts = byPath, ByKind = byKind,
            WrittenBytes = byPath.Sum(a => a.Bytes), KeptBytes = byPath.Where(a => a.Kept).Sum(a => a.Bytes),
            Sources = sources is null ? null : ByPath(sources) is { Count: > 0 } src ? src : null,
        };
    }

    /// <summary>Each path once, where it first appeared, with its last entry.</summary>
    static List<StorageArtifact> ByPath(IEnumerable<StorageArtifact> artifacts)
    {
        var list = new List<StorageArtifact>();
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var a in artifacts)
        {
            if (index.TryGetValue(a.Path, out var i)) list[i] = a;
            else { index[a.Path] = list.Count; list.Add(a); }
        }
        return list;
    }

    /// <summary>Several ledgers' storage as one (a recipe's total): each artifact's path prefixed with its ledger's
    /// folder (relative to the recipe folder, '/'-separated; "" for the recipe folder itself).</summary>
    public static LedgerStorage Merge(IEnumerable<(string Prefix, LedgerStorage? Storage)> parts)
    {
        var list = parts.ToList();
        static StorageArtifact Prefixed(string prefix, StorageArtifact a) => a with
        {
            Path = prefix.Length == 0 || System.IO.Path.IsPathRooted(a.Path) ? a.Path : prefix.TrimEnd('/') + "/" + a.Path,
        };
        return Of(list.SelectMany(p => (p.Storage?.Artifacts ?? []).Select(a => Prefixed(p.Prefix, a))),
            list.SelectMany(p => (p.Storage?.Sources ?? []).Select(a => Prefixed(p.Prefix, a))));
    }

    /// <summary>The artifact for <paramref name="path"/> (given absolute or relative to the working folder) as it is on disk
    /// now, its path made relative to <paramref name="runDir"/>; throws when nothing is there (a writer records what it wrote).</summary>
    public static StorageArtifact Measure(string runDir, string path, string kind)
    {
        if (!StorageKind.All.Contains(kind))
            throw new ArgumentException($"storage kind '{kind}' is not one of {string.Join(", ", StorageKind.All)}", nameof(kind));
        var full = System.IO.Path.GetFullPath(path);
        long bytes = SizeOf(full) ?? throw new InvalidOperationException($"{full}: recorded as written, but no file or folder is there");
        // A recipe's shared data sits beside its run folder ("../data"): still relative, so the pair moves together.
        var rel = System.IO.Path.GetRelativePath(System.IO.Path.GetFullPath(runDir), full);
        return new StorageArtifact { Path = System.IO.Path.IsPathRooted(rel) ? full : rel.Replace(System.IO.Path.DirectorySeparatorChar, '/'), Kind = kind, Bytes = bytes, Kept = true };
    }

    /// <summary>The same artifacts with <see cref="StorageArtifact.Kept"/> set from what is on disk under <paramref name="runDir"/> now.</summary>
    public LedgerStorage Recheck(string runDir)
    {
        var now = Of(Artifacts.Select(a => a with { Kept = SizeOf(System.IO.Path.Combine(runDir, a.Path)) is not null }), Sources);
        return PeakBytes is { } peak ? now with { PeakBytes = Math.Max(peak, now.KeptBytes) } : now;
    }

    /// <summary>The bytes of <paramref name="artifacts"/> (each path's last entry) still on disk under <paramref name="runDir"/>
    /// now: what the run keeps at this moment, the quantity whose maximum is <see cref="PeakBytes"/>.</summary>
    public static long OnDisk(string runDir, IEnumerable<StorageArtifact> artifacts) =>
        ByPath(artifacts).Where(a => Exists(System.IO.Path.Combine(runDir, a.Path))).Sum(a => a.Bytes);

    static bool Exists(string path) => File.Exists(path) || Directory.Exists(path);

    /// <summary>Bytes of a file, or of every file under a folder; null when neither exists.</summary>
    public static long? SizeOf(string path)
    {
        if (File.Exists(path)) return new FileInfo(path).Length;
        if (!Directory.Exists(path)) return null;
        return new DirectoryInfo(path).EnumerateFiles("*", SearchOption.AllDirectories).Sum(f => f.Length);
    }

    /// <summary>One line for a report, e.g. "1.2 MB weights, 3.4 MB checkpoints (1.1 MB kept), 16 kB other; 4.6 MB written,
    /// 2.3 MB kept, 3.4 MB on disk at most".</summary>
    public string Summary()
    {
        if (Artifacts.Count == 0) return "nothing recorded";
        static string Label(string kind) => kind == StorageKind.Checkpoint ? "checkpoints" : kind;
        var parts = ByKind.Select(kv => $"{Bytes(kv.Value.WrittenBytes)} {Label(kv.Key)}"
                                        + (kv.Value.KeptBytes == kv.Value.WrittenBytes ? "" : $" ({Bytes(kv.Value.KeptBytes)} kept)"));
        var saving = SavingRatio() is { } r ? string.Create(CultureInfo.InvariantCulture, $" ({r:F2}x the {Bytes(Sources!.Sum(a => a.Bytes))} source)") : "";
        return string.Join(", ", parts) + saving + $"; {Bytes(WrittenBytes)} written" + (KeptBytes == WrittenBytes ? "" : $", {Bytes(KeptBytes)} kept")
            + (PeakBytes is { } peak ? $", {Bytes(peak)} on disk at most" : "");
    }

    /// <summary>Decimal units (kB = 1000 bytes, as disk sizes are sold), three significant figures.</summary>
    public static string Bytes(long n)
    {
        var inv = CultureInfo.InvariantCulture;
        if (n < 1000) return $"{n} B";
        string[] units = ["kB", "MB", "GB", "TB", "PB"];
        double v = n;
        int u = -1;
        do { v /= 1000; u++; } while (v >= 999.5 && u < units.Length - 1);
        return (v >= 99.5 ? v.ToString("F0", inv) : v >= 9.95 ? v.ToString("F1", inv) : v.ToString("F2", inv)) + " " + units[u];
    }

    internal void Validate(string source)
    {
        foreach (var a in Artifacts.Concat(Sources ?? []))
        {
            if (string.IsNullOrWhiteSpace(a.Path)) throw LedgerJson.Bad(source, "storage.artifacts[].path", "a non-empty path");
            if (!StorageKind.All.Contains(a.Kind))
                throw LedgerJson.Bad(source, "storage.artifacts[].kind", $"one of {string.Join(", ", StorageKind.All)}, got \"{a.Kind}\"");
            if (a.Bytes < 0) throw LedgerJson.Bad(source, "storage.artifacts[].bytes", $"an integer >= 0, got {a.Bytes}");
        }
        var derived = Of(Artifacts);
        if (Sources is { Count: 0 }) throw LedgerJson.Bad(source, "storage.sources", "a non-empty list, or no field");
        if (derived.Artifacts.Count != Artifacts.Count) throw LedgerJson.Bad(source, "storage.artifacts", "each path once");
        if (derived.WrittenBytes != WrittenBytes) throw LedgerJson.Bad(source, "storage.written_bytes", $"the artifacts' sum {derived.WrittenBytes}, got {WrittenBytes}");
        if (derived.KeptBytes != KeptBytes) throw LedgerJson.Bad(source, "storage.kept_bytes", $"the kept artifacts' sum {derived.KeptBytes}, got {KeptBytes}");
        if (PeakBytes < KeptBytes) throw LedgerJson.Bad(source, "storage.peak_bytes", $"at least kept_bytes ({KeptBytes}), got {PeakBytes}");
        if (derived.ByKind.Count != ByKind.Count || derived.ByKind.Any(kv => !ByKind.TryGetValue(kv.Key, out var t) || t != kv.Value))
            throw LedgerJson.Bad(source, "storage.by_kind", "the per-kind sums of the artifacts");
    }
}
