using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace SeekSharp.Data.Curation;

// Design: a lazy stream of records. Folders are walked by FileWalker (the walker `seek data tokenize`
// uses too: ordinal path order, linked folders walked once, only regular files read), so the same inputs
// always yield the same record order (reproducible datasets). Only one file is open at a time; JSONL/CSV
// stream line by line, Parquet by row group; whole-file formats (text, markdown, html, email) are one
// record each, capped at MaxDocumentBytes so one huge file cannot exhaust memory. Malformed input never
// stops the run: it becomes a RawRecord with Error (and a Reason code) set, for the quarantine; so does
// every entry the walker does not read (hidden, FIFO, device, broken link, link loop, a name that is not
// UTF-8) and a file that fails while it is read. Only a missing path (the user's typo) throws, before any
// record is produced.
public static partial class SourceReader
{
    public const long MaxDocumentBytes = FileWalker.MaxDocumentBytes;

    private static readonly Dictionary<string, string> ByExtension = new(StringComparer.OrdinalIgnoreCase)
    {
        [".txt"] = "text", [".text"] = "text", [".md"] = "markdown", [".markdown"] = "markdown",
        [".jsonl"] = "jsonl", [".ndjson"] = "jsonl", [".csv"] = "csv", [".parquet"] = "parquet",
        [".html"] = "html", [".htm"] = "html", [".eml"] = "email",
    };

    public static IEnumerable<RawRecord> Read(SourceSpec s)
    {
        if (s.Format is not null && !SourceSpec.Formats.Contains(s.Format))
            throw new SeekSharpException($"source \"{s.Name}\": unknown format \"{s.Format}\"; expected one of {string.Join(", ", SourceSpec.Formats)}.");
        if (!Directory.Exists(s.Path) && !File.Exists(s.Path))
            throw new SeekSharpException($"source \"{s.Name}\": {FileWalker.Printable(s.Path)}: file or folder not found.");
        return ReadFiles(s, FileWalker.Walk(s.Path));
    }

    private static IEnumerable<RawRecord> ReadFiles(SourceSpec s, List<WalkedFile> files)
    {
        foreach (var f in files)
        {
            if (f.Skip is not null)
            {
                yield return new RawRecord(s.Name, FileWalker.Printable(f.Path), "unknown", null, null, f.Detail, f.Skip);
                continue;
            }
            // A file that fails while it is read (removed, permissions, an I/O error) is one record for the
            // quarantine, after the records it gave before failing.
            IEnumerator<RawRecord>? e = null;
            string? failure = null;
            try
            {
                try { e = ReadFile(s, f.Path).GetEnumerator(); }
                catch (Exception x) when (x is IOException or UnauthorizedAccessException) { failure = x.Message; }
                while (e is not null)
                {
                    RawRecord? r = null;
                    try { if (e.MoveNext()) r = e.Current; }
                    catch (Exception x) when (x is IOException or UnauthorizedAccessException) { failure = x.Message; }
                    if (r is null) break;
                    yield return r;
                }
            }
            finally { e?.Dispose(); }
            if (failure is not null)
                yield return new RawRecord(s.Name, FileWalker.Printable(f.Path), "unknown", null, null, $"{FileWalker.Printable(f.Path)}: {failure}", "unreadable");
        }
    }

    /// <summary>The format a file is read as, or null when its type is not one we read.</summary>
    public static string? DetectFormat(string file)
    {
        var ext = System.IO.Path.GetExtension(file);
        if (IsMailOrText(ext))
        {
            Span<byte> head = stackalloc byte[MailSniffBytes];
            int n;
            using (var fs = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, 1))
                n = fs.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
            return LooksLikeMail(head[..n]) ? "email" : "text";
        }
        return ByExtension.GetValueOrDefault(ext);
    }

    // No extension or .txt: a mail or plain text, told apart by the first bytes (see LooksLikeMail).
    private static bool IsMailOrText(string ext) => ext.Length == 0 || ext.Equals(".txt", StringComparison.OrdinalIgnoreCase);

    private static IEnumerable<RawRecord> ReadFile(SourceSpec s, string file)
    {
        if (s.Format is null && IsMailOrText(System.IO.Path.GetExtension(file)))
            return [ReadWhole(s, file, format: null)];   // sniffed from the bytes it reads anyway
        var format = s.Format ?? DetectFormat(file);
        switch (format)
        {
            case null:
                return [new RawRecord(s.Name, file, "unknown", null, null,
                    $"{file}: unsupported file type \"{System.IO.Path.GetExtension(file)}\"; expected .txt, .md, .jsonl, .csv, .parquet, .html, .eml or a mail file.")];
            case "jsonl": return ReadJsonl(s, file);
            case "csv": return CsvRecordReader.Read(s, file);
            case "parquet": return ParquetRecordReader.Read(s, file);
            default: return [ReadWhole(s, file, format)];
        }
    }

    // One open, one length query and one read per document (thousands of small mails make the number of
    // system calls matter). A null format is sniffed from the bytes, as DetectFormat would from the file.
    private static RawRecord ReadWhole(SourceSpec s, string file, string? format)
    {
        var bytes = FileWalker.ReadCapped(file, MaxDocumentBytes);
        if (bytes is null)
            return new RawRecord(s.Name, file, format ?? DetectFormat(file)!, null, null,
                $"{file}: larger than the {MaxDocumentBytes >> 20} MiB a single document may have.", "too_large");
        format ??= LooksLikeMail(bytes.AsSpan(0, Math.Min(bytes.Length, MailSniffBytes))) ? "email" : "text";
        return new RawRecord(s.Name, file, format, bytes, null);
    }

    private static IEnumerable<RawRecord> ReadJsonl(SourceSpec s, string file)
    {
        using var reader = new StreamReader(file, Encoding.UTF8, detectEncodingFromByteOrderMarks: true, bufferSize: 1 << 16);
        long lineNo = 0;
        foreach (var (line, chars) in TextLines.Read(reader))
        {
            lineNo++;
            var origin = $"{file}:{lineNo}";
            if (line is null)
            {
                yield return new RawRecord(s.Name, origin, "jsonl", null, null, $"{origin}: a line of {chars} characters, longer than the {TextLines.MaxLineChars} a document may have.", "too_large");
                continue;
            }
            if (string.IsNullOrWhiteSpace(line)) continue;
            var (text, error, reason) = JsonField(line, s.Field);
            yield return new RawRecord(s.Name, origin, "jsonl", null, text, error is null ? null : $"{origin}: {error}", reason);
        }
    }

    private static (string? Text, string? Error, string? Reason) JsonField(string line, string field)
    {
        try
        {
            using var doc = JsonDocument.Parse(line);
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                return (null, $"expected a JSON object with a string field \"{field}\", found {doc.RootElement.ValueKind}.", null);
            if (!doc.RootElement.TryGetProperty(field, out var v))
                return (null, $"the object has no \"{field}\" field.", null);
            if (v.ValueKind != JsonValueKind.String)
                return (null, $"field \"{field}\" must be a string, found {v.ValueKind}.", null);
            return (v.GetString(), null, null);
        }
        catch (JsonException e)
        {
            return (null, $"malformed JSON line ({e.Message}).", null);
        }
        catch (InvalidOperationException)   // GetString on an escape such as \uD800: a lone surrogate is not text
        {
            return (null, $"field \"{field}\" holds a lone UTF-16 surrogate escape (e.g. \\ud800), which is not text.", "lone_surrogate");
        }
    }

    private const int MailSniffBytes = 2048;

    // A mail starts with an mbox "From " line or a header we know, and the next line continues the
    // header block (another header or a folded line): one header-like first line alone, as a .txt
    // note might have ("Subject: my essay"), is not enough.
    private static bool LooksLikeMail(ReadOnlySpan<byte> head)
    {
        var text = Encoding.Latin1.GetString(head);
        var lines = text.Split('\n', 3);
        if (lines.Length < 2) return false;
        var first = lines[0].TrimEnd('\r');
        var second = lines[1].TrimEnd('\r');
        if (MboxFrom().IsMatch(first) || (first.StartsWith("From ", StringComparison.Ordinal) && AnyHeader().IsMatch(second))) return true;
        return MailHeader().IsMatch(first) && (AnyHeader().IsMatch(second) || second.StartsWith(' ') || second.StartsWith('\t'));
    }

    [GeneratedRegex(@"^From \S+ .*\d{4}\s*$")]
    private static partial Regex MboxFrom();

    [GeneratedRegex(@"^(Return-Path|Received|From|Delivered-To|Message-I[dD]|Date|To|Subject|X-[A-Za-z0-9-]+|MIME-Version|Envelope-to|Reply-To|Sender|Content-Type):", RegexOptions.IgnoreCase)]
    private static partial Regex MailHeader();

    [GeneratedRegex(@"^[!-9;-~]+:")]
    private static partial Regex AnyHeader();
}
