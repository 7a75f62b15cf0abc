using System.Text.Json;
using SeekSharp.IO;

namespace SeekSharp.Data.Curation;

// manifest.json of `seek data prepare`: what happened to every input document, per source. The
// accounting identity in = kept + filtered + duplicates + quarantined is checked in code before the
// manifest is written (a violation is a pipeline bug, not a user error) and recorded as a boolean.
// Counts are mutated by the pipeline's single ordering thread only, so plain fields suffice.

/// <summary>Counts of one source (or of all sources, in <see cref="CurationManifest.Totals"/>).</summary>
public sealed class SourceCounts
{
    public string Name { get; set; } = "";
    public string Path { get; set; } = "";
    public double Weight { get; set; } = 1;
    /// <summary>Records read (documents, JSONL/CSV lines, Parquet rows, malformed ones included).</summary>
    public long In { get; set; }
    /// <summary>Decoded as clean UTF-8 (or already text: JSONL, CSV, Parquet).</summary>
    public long DecodedUtf8 { get; set; }
    /// <summary>Decoded from a legacy 8-bit encoding, or UTF-8 with bad bytes replaced.</summary>
    public long DecodedLegacy { get; set; }
    /// <summary>Mails: each MIME part decoded by its own charset.</summary>
    public long DecodedMime { get; set; }
    /// <summary>"stage/reason" → documents set aside into quarantine.jsonl.</summary>
    public SortedDictionary<string, long> Quarantined { get; set; } = new(StringComparer.Ordinal);
    /// <summary>Quality reason code → documents filtered.</summary>
    public SortedDictionary<string, long> Filtered { get; set; } = new(StringComparer.Ordinal);
    public long ExactDuplicates { get; set; }
    public long NearDuplicates { get; set; }
    public long Kept { get; set; }
    /// <summary>Documents written after applying the source weight (copies counted).</summary>
    public long Mixed { get; set; }
    public long BytesIn { get; set; }
    /// <summary>UTF-8 bytes of the kept documents (once each, before mixing).</summary>
    public long BytesOut { get; set; }
    public long TrainTokens { get; set; }
    public long ValTokens { get; set; }
    /// <summary>PII replacements in kept documents: email, phone, ip, card.</summary>
    public SortedDictionary<string, long> Pii { get; set; } = new(StringComparer.Ordinal);
    public double QualityMean { get; set; }
    /// <summary>Mean sentiment label of kept documents in [-1, 1]; null when no lexicon was given.</summary>
    public double? SentimentMean { get; set; }
    /// <summary>Kept documents per sentiment bucket (see <see cref="CurationManifest.SentimentBuckets"/>).</summary>
    public long[]? SentimentHistogram { get; set; }

    public long QuarantinedTotal => Quarantined.Values.Sum();
    public long FilteredTotal => Filtered.Values.Sum();
    public bool Reconciles => In == Kept + FilteredTotal + ExactDuplicates + NearDuplicates + QuarantinedTotal;

    internal double QualitySum, SentimentSum;

    internal void Add(SortedDictionary<string, long> into, string key, long n = 1) => into[key] = into.GetValueOrDefault(key) + n;

    internal void Finish()
    {
        QualityMean = Kept == 0 ? 0 : QualitySum / Kept;
        if (SentimentHistogram is not null) SentimentMean = Kept == 0 ? 0 : SentimentSum / Kept;
    }

    internal void AddTo(SourceCounts t)
    {
        t.In += In; t.DecodedUtf8 += DecodedUtf8; t.DecodedLegacy += DecodedLegacy; t.DecodedMime += DecodedMime;
        foreach (var (k, v) in Quarantined) Add(t.Quarantined, k, v);
        foreach (var (k, v) in Filtered) Add(t.Filtered, k, v);
        foreach (var (k, v) in Pii) Add(t.Pii, k, v);
        t.ExactDuplicates += ExactDuplicates; t.NearDuplicates += NearDuplicates; t.Kept += Kept; t.Mixed += Mixed;
        t.BytesIn += BytesIn; t.BytesOut += BytesOut; t.TrainTokens += TrainTokens; t.ValTokens += ValTokens;
        t.QualitySum += QualitySum; t.SentimentSum += SentimentSum;
        if (SentimentHistogram is not null)
        {
            t.SentimentHistogram ??= new long[SentimentHistogram.Length];
            for (var i = 0; i < SentimentHistogram.Length; i++) t.SentimentHistogram[i] += SentimentHistogram[i];
        }
    }
}

/// <summary>One stage's cost: CPU seconds of the threads that ran it, summed (the wall clock where the OS gives no
/// thread CPU time, see <see cref="Native.ThreadCpuClock"/>); Parallel: run by every worker, else by one thread.</summary>
public sealed record StageTiming(string Stage, double ThreadSeconds, bool Parallel);

/// <summary>A duplicate found, with the kept document it repeats (first few kept for the data card).</summary>
public sealed record DuplicateFinding(string Kind, string Origin, string FirstOrigin);

/// <summary>The whole manifest.json.</summary>
public sealed class CurationManifest
{
    public const string FileName = "manifest.json";

    /// <summary>Upper bounds of the sentiment buckets (the last is +1).</summary>
    public static readonly double[] SentimentBuckets = [-0.5, -0.1, 0.1, 0.5, 1.0];
    public static readonly string[] SentimentBucketNames = ["< -0.5", "-0.5..-0.1", "-0.1..0.1", "0.1..0.5", "> 0.5"];

    public int FormatVersion { get; set; } = 1;
    public List<SourceCounts> Sources { get; set; } = [];
    public SourceCounts Totals { get; set; } = new() { Name = "total" };
    public bool CountsReconcile { get; set; }
    public double DedupThreshold { get; set; }
    public double ValFraction { get; set; }
    public string? Lexicon { get; set; }
    public string Tokenizer { get; set; } = "";
    public string MixingRule { get; set; } = "";
    public long TrainDocuments { get; set; }
    public long ValDocuments { get; set; }
    public List<DuplicateFinding> DuplicateExamples { get; set; } = [];
    public List<StageTiming> Stages { get; set; } = [];
    public double WallSeconds { get; set; }

    public static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DictionaryKeyPolicy = null,
        WriteIndented = true,
    };

    /// <summary>Totals the sources and checks the accounting identity (throws on a violation: a bug).</summary>
    public void Reconcile()
    {
        Totals = new SourceCounts { Name = "total", Path = "", Weight = 0 };
        foreach (var s in Sources) { s.Finish(); s.AddTo(Totals); }
        Totals.Finish();
        foreach (var s in Sources.Append(Totals))
            if (!s.Reconciles)
                throw new InvalidOperationException(
                    $"curation accounting broken for {s.Name}: in {s.In} != kept {s.Kept} + filtered {s.FilteredTotal} + " +
                    $"duplicates {s.ExactDuplicates + s.NearDuplicates} + quarantined {s.QuarantinedTotal}");
        CountsReconcile = true;
    }

    /// <summary>Writes the manifest atomically (the pipeline's last file: its presence means the run finished).</summary>
    public void Save(string path) => AtomicFile.WriteAllBytes(path, JsonSerializer.SerializeToUtf8Bytes(this, Json));

    public static CurationManifest Load(string path) =>
        JsonSerializer.Deserialize<CurationManifest>(File.ReadAllBytes(path), Json)
        ?? throw new SeekSharpException($"{path}: empty manifest.");
}
