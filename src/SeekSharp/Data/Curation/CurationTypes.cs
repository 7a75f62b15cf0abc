namespace SeekSharp.Data.Curation;

// Shared vocabulary of the curation pipeline (`seek data prepare`): records come out of readers, pass
// the stages decode → extract → normalize → filter → scrub → dedup → label, and either survive as a
// CuratedDocument or are accounted for by a reason. Nothing is dropped silently: every input record
// ends kept, filtered (by reason code), duplicate, or quarantined (with stage, reason and origin).

/// <summary>One input record as a reader found it, before decoding.</summary>
/// <param name="Source">The user's name for the source (`--source NAME=PATH`).</param>
/// <param name="Origin">Where it came from: a file path, "path:line" (JSONL/CSV) or "path#row" (Parquet).</param>
/// <param name="Format">text, markdown, jsonl, csv, parquet, html or email.</param>
/// <param name="Bytes">Raw bytes when the format carries undecoded text (text, markdown, html, email files).</param>
/// <param name="Text">Already-decoded text (JSONL, CSV and Parquet fields).</param>
/// <param name="Error">Set when the record is malformed (bad JSON line, missing column, truncated file) or its file was not read: it goes to quarantine.</param>
/// <param name="Reason">The quarantine reason code with <paramref name="Error"/> (stage read): malformed when null; else
/// lone_surrogate, too_large, unreadable, or a FileWalker code (hidden, not_regular, broken_link, link_loop, bad_name).</param>
public sealed record RawRecord(string Source, string Origin, string Format, byte[]? Bytes, string? Text, string? Error = null, string? Reason = null);

/// <summary>A record set aside with its reason, written to quarantine.jsonl.</summary>
public sealed record Quarantined(string Source, string Origin, string Stage, string Reason, string Detail);

/// <summary>A document that survived curation, with its labels.</summary>
public sealed record CuratedDocument(string Source, string Origin, string Text, IReadOnlyDictionary<string, double> Labels);

/// <summary>The outcome of a filter rule: keep, or drop with a stable reason code (counted in the manifest).</summary>
public readonly record struct FilterVerdict(bool Keep, string? Reason = null, string? Detail = null)
{
    public static FilterVerdict Pass => new(true);
    public static FilterVerdict Drop(string reason, string detail) => new(false, reason, detail);
}
