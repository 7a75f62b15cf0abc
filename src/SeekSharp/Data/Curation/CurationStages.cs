using System.Text;
using SeekSharp.Native;
using SeekSharp.Tokenization;

namespace SeekSharp.Data.Curation;

// The per-document stages of `seek data prepare`, pure functions of one record so that the workers run
// them in parallel: decode → extract → normalize → filter → scrub → dedup keys (exact hash + MinHash
// signature) → labels → tokens. What needs order (dedup decisions, counting, writing) happens afterwards
// on one thread in CurationPipeline. Labels and tokens are computed before the dedup decision, so a
// duplicate's are thrown away: duplicates are ~10 % of what passes the filter, and waiting for the
// decision would put an ordered step between two parallel ones. Any unexpected exception on one document quarantines that document
// (stage, "error") instead of stopping the run. Thread time per stage is summed for `seek bench data`.

/// <summary>Stage names, in pipeline order (the index is the timing slot).</summary>
public static class CurationStage
{
    public const string Read = "read", Decode = "decode", Extract = "extract", Normalize = "normalize", Filter = "filter",
        Scrub = "scrub", Signature = "signature", Label = "label", Dedup = "dedup", Write = "write", Tokenize = "tokenize";

    public static readonly string[] All = [Read, Decode, Extract, Normalize, Filter, Scrub, Signature, Label, Dedup, Write, Tokenize];
    /// <summary>Stages run by every worker; the others each run on one thread (read: the reader; dedup, write: the consumer).</summary>
    public static readonly bool[] IsParallel = [false, true, true, true, true, true, true, true, false, false, true];

    public static int Index(string stage) => Array.IndexOf(All, stage);
}

/// <summary>What the parallel stages made of one record.</summary>
internal sealed class DocOutcome
{
    public required RawRecord Record;
    public int SourceIndex;
    public long BytesIn;
    public string? Decoding;                       // "utf8", "legacy" or "mime"
    public (string Stage, string Reason, string Detail)? Quarantine;
    public FilterVerdict Verdict = FilterVerdict.Pass;
    public string? Text;
    public ScrubResult? Scrub;
    public UInt128 ExactKey;
    public ulong[]? Signature;
    public double Quality;
    public double? Sentiment;
    public int[]? Tokens;                          // bos … eos
}

internal sealed class CurationStages(QualityFilter filter, MinHash minHash, SentimentLexicon? lexicon, BpeTokenizer tokenizer)
{
    /// <summary>Nanoseconds of CPU time per stage, summed over threads (see <see cref="ThreadCpuClock"/>).</summary>
    public readonly long[] Nanos = new long[CurationStage.All.Length];
    [ThreadStatic] static List<int>? idBuffer;   // token ids of the document being encoded, reused per worker

    public DocOutcome Run(int sourceIndex, RawRecord r)
    {
        var o = new DocOutcome { Record = r, SourceIndex = sourceIndex, BytesIn = r.Bytes?.LongLength ?? (r.Text is null ? 0 : Encoding.UTF8.GetByteCount(r.Text)) };
        if (r.Error is not null) { o.Quarantine = (CurationStage.Read, r.Reason ?? "malformed", r.Error); return o; }
        var stage = CurationStage.Decode;
        try
        {
            var t = ThreadCpuClock.Now();
            string? text = r.Text;
            if (r.Bytes is not null && r.Format == "email")
            {
                // Mails decode part by part with their own charsets, inside the extractor.
                stage = CurationStage.Extract;
                var mail = MailExtractor.Extract(r.Bytes);
                t = Tick(CurationStage.Extract, t);
                if (mail.Body is null) { o.Quarantine = (stage, mail.Problem ?? "no-text", $"{r.Origin}: no readable text part"); return o; }
                (text, o.Decoding) = (mail.Body, "mime");
            }
            else if (r.Bytes is not null)
            {
                var d = TextDecoding.Decode(r.Bytes);
                t = Tick(CurationStage.Decode, t);
                if (d.Text is null) { o.Quarantine = (stage, d.Problem ?? "undecodable", $"{r.Origin}: not text ({d.Encoding})"); return o; }
                (text, o.Decoding) = (d.Text, d.Repaired ? "legacy" : "utf8");
            }
            else o.Decoding = "utf8";
            if (r.Format == "html")
            {
                stage = CurationStage.Extract;
                text = HtmlText.ToText(text!);
                t = Tick(stage, t);
            }

            stage = CurationStage.Normalize;
            text = TextNormalizer.Normalize(text!);
            t = Tick(stage, t);

            stage = CurationStage.Filter;
            (o.Verdict, var signals) = filter.Check(text);
            t = Tick(stage, t);
            if (!o.Verdict.Keep) return o;
            o.Quality = QualityScore.Score(signals, filter.Config);

            stage = CurationStage.Scrub;
            o.Scrub = PiiScrubber.Scrub(text);
            text = o.Scrub.Text;
            t = Tick(stage, t);

            stage = CurationStage.Signature;
            o.ExactKey = ExactDeduplicator.Key(text);
            o.Signature = minHash.Signature(text);
            t = Tick(stage, t);

            stage = CurationStage.Label;
            if (lexicon is not null) o.Sentiment = lexicon.Score(text).Normalized;
            t = Tick(stage, t);

            stage = CurationStage.Tokenize;
            var ids = idBuffer ??= new List<int>();
            ids.Clear();
            tokenizer.EncodeInto(text, allowSpecial: false, ids);
            o.Tokens = DataTokenization.Frame(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(ids), tokenizer.BosId, tokenizer.EosId, tokenizer.VocabSize, r.Origin);
            if (ids.Capacity > 1 << 22) idBuffer = null;   // do not keep a huge document's buffer per thread
            Tick(stage, t);
            o.Text = text;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            o.Quarantine = (stage, "error", $"{r.Origin}: {e.GetType().Name}: {e.Message}");
        }
        return o;
    }

    long Tick(string stage, long since)
    {
        var now = ThreadCpuClock.Now();
        Interlocked.Add(ref Nanos[CurationStage.Index(stage)], now - since);
        return now;
    }
}
