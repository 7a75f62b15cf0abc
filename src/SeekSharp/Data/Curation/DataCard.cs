using System.Globalization;
using System.Text;
using SeekSharp.IO;

namespace SeekSharp.Data.Curation;

// datacard.md: the manifest for people. Everything in it comes from the manifest, so the two agree.

internal static class DataCard
{
    public static void Write(string path, CurationManifest m, TokenizationReport tokens)
    {
        var sb = new StringBuilder();
        void L(string s) => sb.Append(s).Append('\n');   // InvariantGlobalization: formatting is culture-neutral
        var t = m.Totals;
        L($"# Data card");
        L($"");
        L($"{t.In:N0} input documents from {m.Sources.Count} source(s); {t.Kept:N0} kept, {t.Mixed:N0} after mixing, " +
          $"{tokens.TrainTokens + tokens.ValTokens:N0} tokens. Counts reconcile (in = kept + filtered + duplicates + quarantined): {(m.CountsReconcile ? "yes" : "NO")}.");
        L($"");
        L($"## Sources");
        L($"");
        L($"| source | path | weight | in | MB in | kept | MB kept | mixed | train tokens | val tokens |");
        L($"| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        foreach (var s in m.Sources)
            L($"| {s.Name} | `{s.Path}` | {s.Weight:G4} | {s.In:N0} | {s.BytesIn / 1e6:F2} | {s.Kept:N0} | {s.BytesOut / 1e6:F2} | {s.Mixed:N0} | {s.TrainTokens:N0} | {s.ValTokens:N0} |");
        L($"");
        L($"## Stage counts");
        L($"");
        L($"| source | in | utf-8 | legacy | mime | quarantined | filtered | exact dup | near dup | kept |");
        L($"| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        foreach (var s in m.Sources.Append(t))
            L($"| {s.Name} | {s.In:N0} | {s.DecodedUtf8:N0} | {s.DecodedLegacy:N0} | {s.DecodedMime:N0} | {s.QuarantinedTotal:N0} | {s.FilteredTotal:N0} | {s.ExactDuplicates:N0} | {s.NearDuplicates:N0} | {s.Kept:N0} |");
        L($"");
        L($"## Filter reasons");
        L($"");
        if (t.Filtered.Count == 0) L($"No document was filtered.");
        foreach (var (reason, n) in t.Filtered.OrderByDescending(kv => kv.Value).Take(10))
            L($"- `{reason}`: {n:N0}");
        L($"");
        L($"## Quarantine");
        L($"");
        if (t.Quarantined.Count == 0) L($"No document was quarantined.");
        foreach (var (reason, n) in t.Quarantined.OrderByDescending(kv => kv.Value))
            L($"- `{reason}`: {n:N0}");
        L($"");
        L($"Each quarantined document is listed in quarantine.jsonl with its source, origin (file, or file:line), stage, reason and detail.");
        L($"");
        L($"## Deduplication");
        L($"");
        L($"{t.ExactDuplicates:N0} exact duplicates (same normalized, scrubbed text) and {t.NearDuplicates:N0} near duplicates " +
          $"(MinHash/LSH over 5-word shingles, estimated Jaccard ≥ {m.DedupThreshold:G3}) removed; the first copy in input order is kept.");
        if (m.DuplicateExamples.Count > 0)
        {
            L($"");
            L($"| kind | duplicate | of |");
            L($"| --- | --- | --- |");
            foreach (var d in m.DuplicateExamples.Take(10)) L($"| {d.Kind} | `{d.Origin}` | `{d.FirstOrigin}` |");
        }
        L($"");
        L($"## Labels");
        L($"");
        L($"Mean quality score (0..1): {t.QualityMean:F3}.");
        if (t.SentimentHistogram is null)
            L($"No sentiment label: no lexicon was given (`--lexicon`, e.g. AFINN-111).");
        else
        {
            L($"Sentiment (lexicon `{m.Lexicon}`; mean score per scored word / max |score|, in [-1, 1]): mean {t.SentimentMean:F3}.");
            L($"");
            L($"| source | {string.Join(" | ", CurationManifest.SentimentBucketNames)} | mean |");
            L($"| --- |{string.Concat(Enumerable.Repeat(" ---: |", CurationManifest.SentimentBucketNames.Length))} ---: |");
            foreach (var s in m.Sources.Append(t))
                L($"| {s.Name} | {string.Join(" | ", s.SentimentHistogram!.Select(v => v.ToString("N0", CultureInfo.InvariantCulture)))} | {s.SentimentMean:F3} |");
        }
        L($"");
        L($"## PII");
        L($"");
        L($"Replacements in kept documents: " + (t.Pii.Count == 0 ? "none." : string.Join(", ", t.Pii.Select(kv => $"{kv.Key} {kv.Value:N0}")) + "."));
        L($"");
        L($"## Tokens");
        L($"");
        L($"| split | documents | tokens | shards |");
        L($"| --- | ---: | ---: | ---: |");
        L($"| train | {tokens.TrainDocuments:N0} | {tokens.TrainTokens:N0} | {tokens.TrainShards} |");
        L($"| val | {tokens.ValDocuments:N0} | {tokens.ValTokens:N0} | {tokens.ValShards} |");
        L($"");
        L($"## How this was made");
        L($"");
        L($"`seek data prepare` read each source in order and ran every document through decode → extract (mail bodies, HTML text) → " +
          $"normalize (NFKC, whitespace) → quality filter → PII scrub → exact and near-duplicate removal → labels (quality, sentiment). " +
          $"Kept documents were mixed by source weight ({m.MixingRule}), split train/val (fraction {m.ValFraction:G3}) and tokenized with " +
          $"`{m.Tokenizer}`. Tokenizer: {m.Tokenizer}. Took {m.WallSeconds:F1} s. Full counts: manifest.json; curated text: documents.jsonl.");
        AtomicFile.WriteAllText(path, sb.ToString());
    }
}
