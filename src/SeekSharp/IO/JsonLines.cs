using System.Text;
using System.Text.Json;

namespace SeekSharp.IO;

/// <summary>Strict JSONL reading: non-blank lines with their "file:line" for error messages.</summary>
public static class JsonLines
{
    /// <summary>The non-blank lines of <paramref name="path"/>, each with "path:lineNumber" (1-based).</summary>
    /// <param name="expected">What the file should hold, for the not-found message.</param>
    public static IEnumerable<(string Line, string Where)> Read(string path, string expected)
    {
        if (!File.Exists(path)) throw new SeekSharpException($"{path}: file not found (expected {expected}).");
        int lineNo = 0;
        foreach (var line in File.ReadLines(path, Encoding.UTF8))
        {
            lineNo++;
            if (!string.IsNullOrWhiteSpace(line)) yield return (line, $"{path}:{lineNo}");
        }
    }

    /// <summary>Parses one line that must be a JSON object; otherwise a SeekSharpException starting with <paramref name="where"/>.</summary>
    public static JsonDocument ParseObject(string line, string where)
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(line); }
        catch (JsonException e) { throw new SeekSharpException($"{where}: malformed JSON: {e.Message}"); }
        if (doc.RootElement.ValueKind == JsonValueKind.Object) return doc;
        doc.Dispose();
        throw new SeekSharpException($"{where}: expected a JSON object.");
    }
}
