using System.Text.Json;

namespace SeekSharp.Data;

// Design: documents are streamed, never collected, so a corpus larger than memory tokenizes in
// bounded space. Folders are walked in ordinal path order, so the same inputs always give the same
// document order, and with it the same train/val split and byte-identical shards.
internal static class DocumentSource
{
    private static readonly string[] Extensions = [".txt", ".md", ".jsonl"];

    /// <summary>Resolves the user's inputs to the files they hold, failing on a missing path before any work starts.
    /// Every file found comes back; those not read carry a reason (see <see cref="FileWalker"/>, plus
    /// <c>unsupported</c> for a file in a folder whose type is not .txt, .md or .jsonl).</summary>
    public static List<WalkedFile> Walk(IReadOnlyList<string> inputs)
    {
        if (inputs.Count == 0)
            throw new SeekSharpException("No inputs given; expected one or more .txt, .md or .jsonl files or folders.");
        var files = new List<WalkedFile>();
        foreach (var input in inputs)
        {
            if (Directory.Exists(input))
            {
                files.AddRange(FileWalker.Walk(input).Select(f => f.Skip is null && !IsSupported(f.Path)
                    ? f with { Skip = "unsupported", Detail = $"{FileWalker.Printable(f.Path)}: not a .txt, .md or .jsonl file; not read." }
                    : f));
            }
            else if (File.Exists(input))
            {
                if (!IsSupported(input))
                    throw new SeekSharpException($"{FileWalker.Printable(input)}: unsupported input type; expected a .txt, .md or .jsonl file, or a folder of them.");
                files.AddRange(FileWalker.Walk(input));
            }
            else
            {
                throw new SeekSharpException($"{FileWalker.Printable(input)}: input file or folder not found.");
            }
        }
        // A file named twice (or inside a named folder) is one document source, not two.
        return [.. files.DistinctBy(f => f.Path, StringComparer.Ordinal)];
    }

    /// <summary>The files of <see cref="Walk"/> that are read.</summary>
    public static List<string> ResolveFiles(IReadOnlyList<string> inputs) => [.. Walk(inputs).Where(f => f.Skip is null).Select(f => f.Path)];

    private static bool IsSupported(string path) =>
        Extensions.Contains(Path.GetExtension(path), StringComparer.OrdinalIgnoreCase);

    /// <summary>Yields the documents of one file: the whole file for text, one per non-blank line for JSONL.
    /// A JSONL object may pin its split with "split": "train" or "val" (Val is then set; null otherwise):
    /// `seek data prepare` uses it so that the repeated copies of an upsampled document share one split.
    /// A file that is not read (unreadable, binary, or a text over <see cref="FileWalker.MaxDocumentBytes"/>)
    /// yields nothing and is reported to <paramref name="skip"/> (reason, detail).</summary>
    public static IEnumerable<(string Text, string Source, bool? Val)> Read(string file, Action<long> countBytes, Action<string, string>? skip = null)
    {
        if (!Path.GetExtension(file).Equals(".jsonl", StringComparison.OrdinalIgnoreCase))
        {
            var (text, reason, detail) = ReadText(file);
            if (text is null) { skip?.Invoke(reason!, detail!); yield break; }
            countBytes(text.Value.Bytes);
            yield return (text.Value.Text, file, null);
            yield break;
        }

        var reader = Open(file, out var length, out var error);
        if (reader is null) { skip?.Invoke("unreadable", error!); yield break; }
        countBytes(length);
        using var _ = reader;
        long lineNo = 0;
        foreach (var (line, chars) in TextLines.Read(reader))
        {
            lineNo++;
            if (line is null)
            {
                skip?.Invoke("too_large", $"{FileWalker.Printable(file)}, line {lineNo}: {chars} characters, longer than the {TextLines.MaxLineChars} a document may have; not read.");
                continue;
            }
            if (string.IsNullOrWhiteSpace(line)) continue;
            var (text, val) = ParseJsonLine(file, lineNo, line);
            yield return (text, $"{file}, line {lineNo}", val);
        }
    }

    // A whole text file, decoded as `seek data prepare` decodes it (BOM, UTF-8, else a legacy 8-bit guess).
    private static ((string Text, long Bytes)? Text, string? Reason, string? Detail) ReadText(string file)
    {
        byte[]? bytes;
        try { bytes = FileWalker.ReadCapped(file); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return (null, "unreadable", $"{FileWalker.Printable(file)}: {e.Message}");
        }
        if (bytes is null)
            return (null, "too_large", $"{FileWalker.Printable(file)}: larger than the {FileWalker.MaxDocumentBytes >> 20} MiB a single document may have; not read.");
        var decoded = Curation.TextDecoding.Decode(bytes);
        if (decoded.Text is null)
            return (null, "binary", $"{FileWalker.Printable(file)}: binary (NUL or control bytes), not text; not read.");
        return ((decoded.Text, bytes.LongLength), null, null);
    }

    private static StreamReader? Open(string file, out long length, out string? error)
    {
        (length, error) = (0, null);
        try
        {
            var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
            length = stream.Length;
            return new StreamReader(stream, detectEncodingFromByteOrderMarks: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            error = $"{FileWalker.Printable(file)}: {e.Message}";
            return null;
        }
    }

    private static (string Text, bool? Val) ParseJsonLine(string file, long lineNo, string line)
    {
        try
        {
            using var doc = JsonDocument.Parse(line);
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw new SeekSharpException($"{file}, line {lineNo}: expected a JSON object with a string field \"text\", found {doc.RootElement.ValueKind}.");
            if (!doc.RootElement.TryGetProperty("text", out var text))
                throw new SeekSharpException($"{file}, line {lineNo}: the object has no \"text\" field.");
            if (text.ValueKind != JsonValueKind.String)
                throw new SeekSharpException($"{file}, line {lineNo}: field \"text\" must be a string, found {text.ValueKind}.");
            bool? val = null;
            if (doc.RootElement.TryGetProperty("split", out var split))
            {
                val = split.ValueKind == JsonValueKind.String ? split.GetString() switch { "val" => true, "train" => false, _ => null } : null;
                if (val is null)
                    throw new SeekSharpException($"{file}, line {lineNo}: field \"split\" must be \"train\" or \"val\".");
            }
            return (text.GetString()!, val);
        }
        catch (JsonException e)
        {
            throw new SeekSharpException($"{file}, line {lineNo}: malformed JSON line ({e.Message}).", e);
        }
        catch (InvalidOperationException e)   // GetString on a \uD800 escape: a lone surrogate is not text
        {
            throw new SeekSharpException($"{file}, line {lineNo}: a string holds a lone UTF-16 surrogate escape (e.g. \\ud800), which is not text.", e);
        }
    }
}
