// Design: per-step metrics go to metrics.jsonl, one JSON object per line, appended and flushed to
// the OS on every record, so a run killed at any moment keeps every completed line (a flush to the
// OS survives the process dying; we skip fsync per step because it would cost more than the step on
// small models). A kill mid-write can leave a partial last line: the reader skips it, and reopening
// the log for append cuts it off first (or, if it parses, just adds its newline), so a resumed run does not glue its first record onto it.
// A malformed line anywhere else is real corruption and is reported with file and line number.
// NaN/Infinity (a diverged loss) are written as the JSON strings "NaN"/"Infinity" rather than
// failing the write.

using System.Text;
using SeekSharp.IO;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace SeekSharp.Ledger;

/// <summary>Append-only JSONL writer and tolerant reader for step metrics.</summary>
public sealed class MetricsLog : IDisposable
{
    /// <summary>Conventional file name inside a run folder.</summary>
    public const string FileName = "metrics.jsonl";

    private static readonly JsonSerializerOptions Json = new()
    {
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        WriteIndented = false,
    };

    private readonly FileStream _stream;
    private readonly Lock _lock = new();

    private MetricsLog(FileStream stream) => _stream = stream;

    /// <summary>Path of the log.</summary>
    public string Path => _stream.Name;

    /// <summary>Opens (creating if needed) a log for appending, first cutting off a partial last line.</summary>
    public static MetricsLog Open(string path)
    {
        var full = System.IO.Path.GetFullPath(path);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(full)!);
        var fs = new FileStream(full, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.Read);
        try
        {
            var complete = CompleteLength(fs);
            if (complete < fs.Length)
            {
                // Same rule as Read: an unterminated tail that parses is a record missing only its
                // newline, so keep it; anything else is a cut-short write and goes.
                var tail = new byte[fs.Length - complete];
                fs.Seek(complete, SeekOrigin.Begin);
                fs.ReadExactly(tail);
                if (IsObject(tail)) { fs.Seek(0, SeekOrigin.End); fs.WriteByte((byte)'\n'); }
                else fs.SetLength(complete);
            }
            fs.Seek(0, SeekOrigin.End);
            return new MetricsLog(fs);
        }
        catch
        {
            fs.Dispose();
            throw;
        }
    }

    /// <summary>Appends one record as a line and flushes it.</summary>
    public void Append(IReadOnlyDictionary<string, object?> record) =>
        WriteLine(JsonSerializer.Serialize(record, Json));

    /// <summary>Appends one record as a line and flushes it.</summary>
    public void Append(JsonObject record) => WriteLine(record.ToJsonString(Json));

    private void WriteLine(string json)
    {
        var bytes = Encoding.UTF8.GetBytes(json + "\n");
        lock (_lock)
        {
            // One write call per line keeps a kill from interleaving half-lines with the next record.
            _stream.Write(bytes);
            _stream.Flush();
        }
    }

    public void Dispose() => _stream.Dispose();

    /// <summary>
    /// Reads every record. A final line without its newline that does not parse is a write cut short
    /// by a kill and is skipped; any other malformed line throws <see cref="SeekSharpException"/>
    /// naming the file and line. Blank lines are ignored.
    /// </summary>
    public static IReadOnlyList<JsonObject> Read(string path)
    {
        string text;
        try { text = File.ReadAllText(path); }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new SeekSharpException($"metrics log '{path}': file not found", e);
        }
        var lines = text.Split('\n');
        var records = new List<JsonObject>(lines.Length);
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i].TrimEnd('\r');
            if (string.IsNullOrWhiteSpace(line)) continue;
            // Split leaves the text after the last '\n' as the final element: a line never terminated.
            var unterminated = i == lines.Length - 1;
            try
            {
                if (JsonNode.Parse(line) is JsonObject obj) { records.Add(obj); continue; }
                if (unterminated) break;
                throw new SeekSharpException($"metrics log '{path}': line {i + 1}: expected a JSON object");
            }
            catch (JsonException e)
            {
                if (unterminated) break;
                throw new SeekSharpException($"metrics log '{path}': line {i + 1}: malformed JSON: {e.Message}", e);
            }
        }
        return records;
    }

    /// <summary>
    /// Drops records whose "step" is beyond <paramref name="step"/>: a resumed run restarts from its last
    /// checkpoint, and the lines a killed run logged after it would otherwise appear twice. Rewritten atomically.
    /// </summary>
    public static void TruncateAfterStep(string path, int step)
    {
        if (!File.Exists(path)) return;
        var kept = Read(path).Where(r => r["step"] is not JsonValue v || v.GetValue<double>() <= step);
        AtomicFile.WriteAllText(path, string.Concat(kept.Select(r => r.ToJsonString(Json) + "\n")));
    }

    /// <summary>Empties the log, if there is one: a fresh run must not append to the lines of a run that died before
    /// its first checkpoint (they would repeat its steps).</summary>
    public static void Reset(string path)
    {
        if (File.Exists(path)) AtomicFile.WriteAllText(path, "");
    }

    private static bool IsObject(byte[] utf8)
    {
        try { return JsonNode.Parse(utf8) is JsonObject; }
        catch (JsonException) { return false; }
    }

    /// <summary>Length of the file up to and including its last newline.</summary>
    private static long CompleteLength(FileStream fs)
    {
        var buf = new byte[64 * 1024];
        var end = fs.Length;
        while (end > 0)
        {
            var start = Math.Max(0, end - buf.Length);
            fs.Seek(start, SeekOrigin.Begin);
            fs.ReadExactly(buf, 0, (int)(end - start));
            var nl = Array.LastIndexOf(buf, (byte)'\n', (int)(end - start) - 1);
            if (nl >= 0) return start + nl + 1;
            end = start;
        }
        return 0;
    }
}
