using System.Diagnostics;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using SeekSharp.Ledger;
using SeekSharp.Native;
using SeekSharp.Tokenization;

namespace SeekSharp.Data.Curation;

// `seek data prepare`: several sources in, one TokenDataset folder out, with documents.jsonl (the
// curated, mixed text), quarantine.jsonl, datacard.md and manifest.json (written last).
//
// Design: records stream through OrderedParallel: one thread reads the sources, one worker per core runs
// the per-document stages (CurationStages, tokenizing included), and this thread takes the outcomes in
// input order for dedup (exact, then near), counting and writing documents.jsonl and the token shards,
// so which copy survives and the output bytes never depend on the core count or on timing. Memory is
// bounded by the documents in flight (MaxInFlightDocuments / MaxInFlightBytes) plus ~1 KiB of dedup state
// per kept document. Sources are processed in the order given, so the first source wins a cross-source
// duplicate.
//
// Mixing: a source of weight w contributes w × its kept documents: floor(w) copies of each document,
// plus one more with probability frac(w) decided by a stable hash of the document's origin (so w = 0.5
// keeps about half, w = 2 doubles, w = 1.5 doubles half). The train/val split is drawn per document
// (stable hash of the origin) before copying and pinned in documents.jsonl, so copies of a document
// never straddle the split. The shards get exactly the documents of that file, in its order, with its
// splits (TokenDatasetWriter, as `seek data tokenize` would write them from it), without reading it back.

/// <summary>What `seek data prepare` runs with.</summary>
public sealed record CurationOptions
{
    /// <summary>Named inputs with weights, processed in this order.</summary>
    public required IReadOnlyList<SourceSpec> Sources { get; init; }
    /// <summary>A saved tokenizer folder (from `seek tok train`).</summary>
    public required string TokenizerDir { get; init; }
    /// <summary>The output folder: a TokenDataset plus manifest, data card and quarantine.</summary>
    public required string OutDir { get; init; }
    /// <summary>Quality filter thresholds.</summary>
    public QualityConfig Quality { get; init; } = new();
    /// <summary>Stop words for the quality filter (built-in English by default).</summary>
    public IReadOnlySet<string>? StopWords { get; init; }
    /// <summary>Jaccard similarity at or above which a document is a near duplicate.</summary>
    public double DedupThreshold { get; init; } = 0.8;
    /// <summary>Fraction of kept documents held out for validation.</summary>
    public double ValFraction { get; init; } = 0.05;
    /// <summary>A "word,score" sentiment lexicon (AFINN-111); without one no sentiment label is made.</summary>
    public string? LexiconPath { get; init; }
    /// <summary>Documents read but not yet written, at most (bounds memory; enough to keep every core busy).</summary>
    public int MaxInFlightDocuments { get; init; } = 512;
    /// <summary>Input bytes of the documents in flight, at most (a larger document still goes, alone).</summary>
    public long MaxInFlightBytes { get; init; } = 16L << 20;
    /// <summary>Tokens the run may write (all copies, both splits), at most: a weight typo must not fill the disk.
    /// 10^10 tokens is 40 GB of shards, more than any model trained with SeekSharp needs.</summary>
    public long MaxTokens { get; init; } = DefaultMaxTokens;

    /// <summary>The default of <see cref="MaxTokens"/> (`--max-tokens`).</summary>
    public const long DefaultMaxTokens = 10_000_000_000;
}

/// <summary>What a run produced.</summary>
public sealed record CurationReport(CurationManifest Manifest, TokenizationReport Tokens, string OutDir);

public static class CurationPipeline
{
    public const string DocumentsFile = "documents.jsonl", QuarantineFile = "quarantine.jsonl", DataCardFile = "datacard.md";
    const int MaxDuplicateExamples = 50;

    static readonly JsonWriterOptions LineOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static CurationReport Run(CurationOptions o, Action<string>? log = null)
    {
        Validate(o);
        var clock = Stopwatch.StartNew();
        var readers = o.Sources.Select(SourceReader.Read).ToList();   // a missing path fails here, before any work
        var lexicon = o.LexiconPath is null ? null : SentimentLexicon.Load(o.LexiconPath);
        var tokenizer = BpeTokenizer.Load(o.TokenizerDir);
        var filter = new QualityFilter(o.Quality, o.StopWords ?? StopWords.English);
        var near = new NearDuplicateDeduplicator(o.DedupThreshold);
        var exact = new ExactDeduplicator();
        var stages = new CurationStages(filter, near.MinHash, lexicon, tokenizer);

        Directory.CreateDirectory(o.OutDir);
        var manifestPath = Path.Combine(o.OutDir, CurationManifest.FileName);
        File.Delete(manifestPath);
        using var ledger = RunLedger.Start("data-prepare", HardwareProfile.Resolve(null), runDir: o.OutDir);
        var m = new CurationManifest
        {
            DedupThreshold = o.DedupThreshold, ValFraction = o.ValFraction, Lexicon = o.LexiconPath is null ? null : Path.GetFullPath(o.LexiconPath),
            Tokenizer = Path.GetFullPath(o.TokenizerDir),
            MixingRule = "floor(w) copies of each kept document plus one more with probability frac(w) (stable hash of its origin); split drawn per document before copying",
        };
        foreach (var spec in o.Sources)
        {
            var c = new SourceCounts { Name = spec.Name, Path = Path.GetFullPath(spec.Path), Weight = spec.Weight };
            if (lexicon is not null) c.SentimentHistogram = new long[CurationManifest.SentimentBuckets.Length];
            m.Sources.Add(c);
        }
        // mixedStart[i]: the first documents.jsonl line of source i (sources are contiguous there); not yet
        // known (MaxValue) until the source starts, which is always before its lines are reported.
        var mixedStart = new long[o.Sources.Count + 1];
        Array.Fill(mixedStart, long.MaxValue);
        long mixedLines = 0;
        int cursor = 0;
        void OnDocument(long index, int n, bool isVal)
        {
            while (index >= mixedStart[cursor + 1]) cursor++;
            if (isVal) { m.Sources[cursor].ValTokens += n; m.ValDocuments++; }
            else { m.Sources[cursor].TrainTokens += n; m.TrainDocuments++; }
        }

        var documentsPath = Path.Combine(o.OutDir, DocumentsFile);
        TokenizationReport tokens;
        using (var shards = new TokenDatasetWriter(o.OutDir, tokenizer.VocabSize, tokenizer.Hash, tokenizer.BosId, tokenizer.EosId, o.ValFraction, log: log, onDocument: OnDocument))
        {
            using (var docs = new FileStream(documentsPath, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
            using (var quarantine = new FileStream(Path.Combine(o.OutDir, QuarantineFile), FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16))
            {
                int current = -1;   // the source whose records are arriving
                void AdvanceTo(int si)
                {
                    for (; current < si; current++)
                    {
                        if (current >= 0) log?.Invoke($"source {o.Sources[current].Name}: {m.Sources[current].In} in, {m.Sources[current].Kept} kept");
                        if (current + 1 == o.Sources.Count) continue;
                        var spec = o.Sources[current + 1];
                        mixedStart[current + 1] = mixedLines;
                        log?.Invoke($"source {spec.Name}: {spec.Path} (weight {spec.Weight})");
                    }
                }
                var outcomes = OrderedParallel.Map(Records(readers, stages), x => stages.Run(x.Source, x.Record),
                    x => (x.Record.Bytes?.LongLength ?? 2L * (x.Record.Text?.Length ?? 0)) + 1, o.MaxInFlightDocuments, o.MaxInFlightBytes);
                long tokensOut = 0;
                foreach (var d in outcomes)
                {
                    AdvanceTo(d.SourceIndex);
                    var copies = Account(d, m.Sources[d.SourceIndex], o.Sources[d.SourceIndex], o.ValFraction, exact, near, m, stages, docs, quarantine, shards);
                    mixedLines += copies;
                    tokensOut += copies * (d.Tokens?.LongLength ?? 0);
                    // Checked as it goes (the total is only known at the end): the run stops at the first document past the cap.
                    if (tokensOut > o.MaxTokens)
                        throw new SeekSharpException($"the output passed --max-tokens {o.MaxTokens} tokens while reading source \"{o.Sources[d.SourceIndex].Name}\" " +
                            $"(weight {o.Sources[d.SourceIndex].Weight}); lower the --source weights or raise --max-tokens. {o.OutDir} is unfinished (no manifest.json).");
                }
                AdvanceTo(o.Sources.Count);
                mixedStart[^1] = mixedLines;
            }

            if (mixedLines == 0)
            {
                m.Reconcile();
                m.Save(manifestPath);
                throw new SeekSharpException($"no document survived curation; see {Path.Combine(o.OutDir, QuarantineFile)} and {manifestPath} for why.");
            }
            var t0 = ThreadCpuClock.Now();
            tokens = shards.Complete([documentsPath], new FileInfo(documentsPath).Length, clock.Elapsed.TotalSeconds);
            stages.Nanos[CurationStage.Index(CurationStage.Write)] += ThreadCpuClock.Now() - t0;
        }
        BpeTokenizer.CopyFiles(o.TokenizerDir, o.OutDir);

        m.WallSeconds = clock.Elapsed.TotalSeconds;
        m.Stages = [.. CurationStage.All.Select((s, i) => new StageTiming(s, stages.Nanos[i] / 1e9, CurationStage.IsParallel[i]))];
        m.Reconcile();
        DataCard.Write(Path.Combine(o.OutDir, DataCardFile), m, tokens);
        WriteLedger(ledger, o.OutDir, tokens, m);
        m.Save(manifestPath);
        log?.Invoke($"wrote {manifestPath}");
        return new CurationReport(m, tokens, o.OutDir);
    }

    /// <summary>OUT/ledger.json: the time and energy of the run and the bytes of what it wrote (shards, documents and
    /// quarantine as data, the data card as report); before manifest.json, which stays the last file written.</summary>
    static void WriteLedger(RunLedger ledger, string outDir, TokenizationReport tokens, CurationManifest m)
    {
        ledger.AddTokens(tokens.TrainTokens + tokens.ValTokens);
        ledger.RecordData(LedgerData.Of(m, outDir));
        foreach (var shard in Directory.GetFiles(outDir, "*.bin").Order(StringComparer.Ordinal)) ledger.RecordStorage(shard, StorageKind.Data);
        foreach (var f in new[] { DocumentsFile, QuarantineFile }) ledger.RecordStorage(Path.Combine(outDir, f), StorageKind.Data);
        foreach (var f in BpeTokenizer.FileNames.Append(DatasetManifest.FileName).Where(f => File.Exists(Path.Combine(outDir, f))))
            ledger.RecordStorage(Path.Combine(outDir, f), StorageKind.Other);
        ledger.RecordStorage(Path.Combine(outDir, DataCardFile), StorageKind.Report);
        ledger.Finish().Write(Path.Combine(outDir, "ledger.json"));
    }

    // Every source's records in order, tagged with the source's index; the time spent reading is the "read" stage.
    static IEnumerable<(int Source, RawRecord Record)> Records(List<IEnumerable<RawRecord>> readers, CurationStages stages)
    {
        for (int si = 0; si < readers.Count; si++)
        {
            using var e = readers[si].GetEnumerator();
            while (true)
            {
                var t0 = ThreadCpuClock.Now();
                var more = e.MoveNext();
                stages.Nanos[CurationStage.Index(CurationStage.Read)] += ThreadCpuClock.Now() - t0;   // only this thread writes it
                if (!more) break;
                yield return (si, e.Current);
            }
        }
    }

    static void Validate(CurationOptions o)
    {
        if (o.Sources.Count == 0) throw new SeekSharpException("no --source given; expected NAME=PATH[:WEIGHT].");
        var twice = o.Sources.GroupBy(s => s.Name).FirstOrDefault(g => g.Count() > 1);
        if (twice is not null) throw new SeekSharpException($"--source name \"{twice.Key}\" is used twice; names must be unique.");
        if (!(o.DedupThreshold > 0 && o.DedupThreshold <= 1)) throw new SeekSharpException($"--dedup-threshold must be in (0, 1], got {o.DedupThreshold}.");
        if (!(o.ValFraction >= 0 && o.ValFraction < 1)) throw new SeekSharpException($"--val-fraction must be in [0, 1), got {o.ValFraction}.");
        if (o.MaxTokens <= 0) throw new SeekSharpException($"--max-tokens must be positive, got {o.MaxTokens}.");
        var heavy = o.Sources.FirstOrDefault(s => !(s.Weight > 0 && s.Weight <= SourceSpec.MaxWeight));
        if (heavy is not null) throw new SeekSharpException($"--source {heavy.Name}: the weight {heavy.Weight} must be in (0, {SourceSpec.MaxWeight}].");
        var tokFile = Directory.Exists(o.TokenizerDir) ? Path.Combine(o.TokenizerDir, "tokenizer.json") : o.TokenizerDir;
        if (!File.Exists(tokFile)) throw new SeekSharpException($"--tokenizer {o.TokenizerDir}: no tokenizer.json there (train one with `seek tok train`).");
    }

    // One document's fate, in input order: counts it exactly once and writes what it leaves behind.
    // Returns the lines it added to documents.jsonl.
    static long Account(DocOutcome d, SourceCounts c, SourceSpec spec, double valFraction, ExactDeduplicator exact,
        NearDuplicateDeduplicator near, CurationManifest m, CurationStages stages, Stream docs, Stream quarantine, TokenDatasetWriter shards)
    {
        var r = d.Record;
        c.In++;
        c.BytesIn += d.BytesIn;
        switch (d.Decoding) { case "utf8": c.DecodedUtf8++; break; case "legacy": c.DecodedLegacy++; break; case "mime": c.DecodedMime++; break; }
        if (d.Quarantine is { } q)
        {
            c.Add(c.Quarantined, $"{q.Stage}/{q.Reason}");
            WriteLine(quarantine, w =>
            {
                w.WriteString("source", r.Source); w.WriteString("origin", r.Origin); w.WriteString("stage", q.Stage);
                w.WriteString("reason", q.Reason); w.WriteString("detail", q.Detail);
            });
            return 0;
        }
        if (!d.Verdict.Keep) { c.Add(c.Filtered, d.Verdict.Reason ?? "filtered"); return 0; }

        var t0 = ThreadCpuClock.Now();
        string? kind = null;
        if (exact.IsDuplicate(d.ExactKey, r.Origin, out var first)) { c.ExactDuplicates++; kind = "exact"; }
        else if (near.IsDuplicate(d.Signature!, r.Origin, out first)) { c.NearDuplicates++; kind = "near"; }
        var t1 = ThreadCpuClock.Now();
        stages.Nanos[CurationStage.Index(CurationStage.Dedup)] += t1 - t0;
        if (kind is not null)
        {
            if (m.DuplicateExamples.Count < MaxDuplicateExamples) m.DuplicateExamples.Add(new DuplicateFinding(kind, r.Origin, first));
            return 0;
        }

        c.Kept++;
        c.BytesOut += Encoding.UTF8.GetByteCount(d.Text!);
        c.QualitySum += d.Quality;
        var s = d.Scrub!;
        if (s.Emails > 0) c.Add(c.Pii, "email", s.Emails);
        if (s.Phones > 0) c.Add(c.Pii, "phone", s.Phones);
        if (s.Ips > 0) c.Add(c.Pii, "ip", s.Ips);
        if (s.Cards > 0) c.Add(c.Pii, "card", s.Cards);
        if (d.Sentiment is { } sentiment && c.SentimentHistogram is not null)
        {
            c.SentimentSum += sentiment;
            var b = Array.FindIndex(CurationManifest.SentimentBuckets, u => sentiment <= u);
            c.SentimentHistogram[b < 0 ? ^1 : b]++;
        }
        var copies = Copies(spec.Weight, r.Origin);
        var isVal = valFraction > 0 && UnitHash(r.Origin, 0x5EED) < valFraction;
        for (var k = 0; k < copies; k++)
        {
            WriteLine(docs, w =>
            {
                w.WriteString("text", d.Text); w.WriteString("split", isVal ? "val" : "train");
                w.WriteString("source", r.Source); w.WriteString("origin", r.Origin);
                w.WriteNumber("quality", Math.Round(d.Quality, 4));
                if (d.Sentiment is { } v) w.WriteNumber("sentiment", Math.Round(v, 4));
            });
            shards.Add(d.Tokens!, isVal);
        }
        c.Mixed += copies;
        stages.Nanos[CurationStage.Index(CurationStage.Write)] += ThreadCpuClock.Now() - t1;
        return copies;
    }

    /// <summary>Copies of a document from a source of weight <paramref name="weight"/>: floor(w), plus one
    /// with probability frac(w), decided by a stable hash of <paramref name="origin"/>.</summary>
    public static int Copies(double weight, string origin)
    {
        var whole = (int)Math.Floor(weight);
        return whole + (UnitHash(origin, 0x313) < weight - whole ? 1 : 0);
    }

    // FNV-1a over the UTF-16 code units, SplitMix64 finalizer, mapped to [0, 1): stable everywhere.
    static double UnitHash(string s, ulong salt)
    {
        var h = 14695981039346656037UL ^ salt;
        foreach (var ch in s) { h ^= ch; h *= 1099511628211UL; }
        h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9UL;
        h = (h ^ (h >> 27)) * 0x94D049BB133111EBUL;
        h ^= h >> 31;
        return (h >> 11) * (1.0 / (1UL << 53));
    }

    static void WriteLine(Stream to, Action<Utf8JsonWriter> body)
    {
        using (var w = new Utf8JsonWriter(to, LineOptions))
        {
            w.WriteStartObject();
            body(w);
            w.WriteEndObject();
        }
        to.WriteByte((byte)'\n');
    }
}
