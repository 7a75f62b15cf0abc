using System.Text.Json;

namespace SeekSharp.Data;

// Design: documents are streamed, never collected, so a corpus larger than memory tokenizes in
// bounded space. Folders are walked in ordinal path order, so the same inputs always give the same
// document order, and with it the same train/val split and byte-identical shards.
internal static class DocumentSource
{
    private static readonly string[] Extensions = [".txt", ".md", ".jsonl"];

    /// <summary>Resolves the user's inputs to files, failing on a missing path before any work starts.</summary>
    public static List<string> ResolveFiles(IReadOnlyList<string> inputs)
    {
        if (inputs.Count == 0)
            throw new SeekSharpException("No inputs given; expected one or more .txt, .md or .jsonl files or folders.");
        var files = new List<string>();
        foreach (var input in inputs)
        {
            if (Directory.Exists(input))
            {
                files.AddRange(Directory.EnumerateFiles(input, "*", SearchOption.AllDirectories)
                    .Where(IsSupported)
                    .Select(Path.GetFullPath)
                    .OrderBy(f => f, StringComparer.Ordinal));
            }
            else if (File.Exists(input))
            {
                if (!IsSupported(input))
                    throw new SeekSharpException($"{input}: unsupported input type; expected a .txt, .md or .jsonl file, or a folder of them.");
                files.Add(Path.GetFullPath(input));
            }
            else
            {
                throw new SeekSharpException($"{input}: input file or folder not found.");
            }
        }
        // A file named twice (or inside a named folder) is one document source, not two.
        return [.. files.Distinct(StringComparer.Ordinal)];
    }

    private static bool IsSupported(string path) =>
        Extensions.Contains(Path.GetExtension(path), StringComparer.OrdinalIgnoreCase);

    /// <summary>Yields the documents of one file: the whole file for text, one per non-blank line for JSONL.
    /// A JSONL object may pin its split with "split": "train" or "val" (Val is then set; null otherwise):
    /// `seek data prepare` uses it so that the repeated copies of an upsampled document share one split.</summary>
    public static IEnumerable<(string Text, string Source, bool? Val)> Read(string file, Action<long> countBytes)
    {
        countBytes(new FileInfo(file).Length);
        if (!Path.GetExtension(file).Equals(".jsonl", StringComparison.OrdinalIgnoreCase))
        {
            yield return (File.ReadAllText(file), file, null);
            yield break;
        }

        using var reader = new StreamReader(file, detectEncodingFromByteOrderMarks: true);
        long lineNo = 0;
        while (reader.ReadLine() is { } line)
        {
            lineNo++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            var (text, val) = ParseJsonLine(file, lineNo, line);
            yield return (text, $"{file}, line {lineNo}", val);
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
    }
}
