using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using SeekSharp.IO;

namespace SeekSharp.Data.Synthetic;

// `seek data synth` output: one JSON object per line, {"id","task","prompt","solution","answer",
// "checker","parameters":{...}} plus "augmented_from" on augmented records. The file is written
// atomically (never half-written) and is byte-identical for the same task, count, seed and flag:
// one Random(seed) drives everything in a fixed order. With augment, each generated problem is followed
// by one augmented variant (ids "<task>-000007" and "<task>-000007-aug"), until count records exist.
// Reading is strict: any malformed line is an error naming the file and the 1-based line number.

/// <summary>What <see cref="SyntheticData.Write"/> produced.</summary>
public sealed record SyntheticWriteReport(string Path, string Task, int Records, int Augmented, int Seed, long Bytes, string Sha256);

/// <summary>One record of a synthetic JSONL file.</summary>
public sealed record SyntheticRecord(string Id, SyntheticProblem Problem, string? AugmentedFrom = null);

/// <summary>Writes and reads synthetic problem files.</summary>
public static class SyntheticData
{
    // Relaxed escaping keeps "+", "<" and "'" readable in the file; the output is never embedded in HTML.
    static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>Generates <paramref name="count"/> records of task <paramref name="taskId"/> into <paramref name="path"/>.</summary>
    public static SyntheticWriteReport Write(string taskId, int count, int seed, string path, bool augment = false)
    {
        if (count <= 0) throw new SeekSharpException($"--count must be positive, got {count}");
        var task = SyntheticTasks.Get(taskId);
        var records = Generate(task, count, seed, augment);
        var ms = new MemoryStream();
        foreach (var r in records)
        {
            using (var w = new Utf8JsonWriter(ms, WriterOptions)) WriteRecord(w, r);
            ms.WriteByte((byte)'\n');
        }
        var bytes = ms.ToArray();
        AtomicFile.WriteAllBytes(path, bytes);
        Ledger.DataOrigin.Write(path, Ledger.DataOrigin.Synthetic, $"seek data synth: {records.Count} {task.Id} problems, seed {seed}{(augment ? ", augmented" : "")}");
        return new SyntheticWriteReport(path, task.Id, records.Count, records.Count(r => r.AugmentedFrom != null), seed,
            bytes.LongLength, Convert.ToHexStringLower(SHA256.HashData(bytes)));
    }

    /// <summary>The records Write would write, in memory.</summary>
    public static List<SyntheticRecord> Generate(ISyntheticTask task, int count, int seed, bool augment = false)
    {
        var rng = new Random(seed);
        var records = new List<SyntheticRecord>(count);
        for (int i = 1; records.Count < count; i++)
        {
            string id = $"{task.Id}-{i:D6}";
            var p = task.Generate(rng);
            records.Add(new SyntheticRecord(id, p));
            if (augment && records.Count < count) records.Add(new SyntheticRecord(id + "-aug", task.Augment(p, rng), id));
        }
        return records;
    }

    /// <summary>One record as the JSON line Write writes (without the newline), for callers that log problems they used.</summary>
    public static string ToJsonLine(SyntheticRecord r)
    {
        var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, WriterOptions)) WriteRecord(w, r);
        return Encoding.UTF8.GetString(ms.ToArray());
    }

    static void WriteRecord(Utf8JsonWriter w, SyntheticRecord r)
    {
        var p = r.Problem;
        w.WriteStartObject();
        w.WriteString("id", r.Id);
        w.WriteString("task", p.Task);
        w.WriteString("prompt", p.Prompt);
        w.WriteString("solution", p.Solution);
        w.WriteString("answer", p.Answer);
        w.WriteString("checker", p.Checker);
        w.WriteStartObject("parameters");
        foreach (var (k, v) in p.Parameters) w.WriteString(k, v);
        w.WriteEndObject();
        if (r.AugmentedFrom != null) w.WriteString("augmented_from", r.AugmentedFrom);
        w.WriteEndObject();
    }

    /// <summary>Reads a file written by <see cref="Write"/>; blank lines are skipped, anything else malformed is an error.</summary>
    public static List<SyntheticRecord> Read(string path)
    {
        if (!File.Exists(path)) throw new SeekSharpException($"{path}: file not found");
        var list = new List<SyntheticRecord>();
        int lineNo = 0;
        foreach (var line in File.ReadLines(path, Encoding.UTF8))
        {
            lineNo++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            list.Add(ParseLine(line, $"{path}:{lineNo}"));
        }
        return list;
    }

    /// <summary>Parses one record line; a malformed one is a SeekSharpException prefixed with <paramref name="where"/> ("file:line").</summary>
    public static SyntheticRecord ParseLine(string line, string where)
    {
        try
        {
            using var doc = JsonDocument.Parse(line);
            return Parse(doc.RootElement);
        }
        catch (Exception e) when (e is JsonException or FormatException or InvalidOperationException or KeyNotFoundException)
        {
            throw new SeekSharpException($"{where}: {e.Message}", e);
        }
    }

    /// <summary>Parses one record object; malformed: FormatException (or a JSON exception) with the field.</summary>
    public static SyntheticRecord Parse(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object) throw new FormatException("expected a JSON object");
        string Str(string name) => root.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String
            ? v.GetString()! : throw new FormatException($"missing or non-string field '{name}'");
        var parameters = new Dictionary<string, string>();
        if (root.TryGetProperty("parameters", out var ps))
        {
            if (ps.ValueKind != JsonValueKind.Object) throw new FormatException("'parameters' must be an object");
            foreach (var prop in ps.EnumerateObject())
                parameters[prop.Name] = prop.Value.ValueKind == JsonValueKind.String
                    ? prop.Value.GetString()! : throw new FormatException($"parameter '{prop.Name}' must be a string");
        }
        var problem = new SyntheticProblem(Str("prompt"), Str("solution"), Str("answer"), Str("checker"))
        {
            Task = Str("task"), Parameters = parameters,
        };
        string? from = root.TryGetProperty("augmented_from", out var af) && af.ValueKind == JsonValueKind.String ? af.GetString() : null;
        return new SyntheticRecord(Str("id"), problem, from);
    }
}
