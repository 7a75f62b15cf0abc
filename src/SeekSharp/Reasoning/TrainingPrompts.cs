using System.Text;
using System.Text.Json;
using SeekSharp.Data.Synthetic;
using SeekSharp.IO;

namespace SeekSharp.Reasoning;

// The prompts a model was trained on, as HeldOut.CheckDisjoint compares them. Read from JSONL files of
// either shape the chat stages use: `seek data synth` records (prompt text and problem key), or chat
// records {"messages": [...]} (every user message's text; plus the key when the record carries the
// problem it came from under "problem", as `seek chat sample` writes). A model folder's lineage lives in
// train_prompts.jsonl (synth records): each RL or sampling stage writes its parent's lines and its own.

/// <summary>A set of training prompts, by normalized text and by problem key.</summary>
public sealed class TrainingPrompts
{
    /// <summary>The lineage file in a model folder.</summary>
    public const string FileName = "train_prompts.jsonl";

    readonly HashSet<string> texts = new(StringComparer.Ordinal);
    readonly HashSet<string> keys = new(StringComparer.Ordinal);
    readonly List<string> sources = [];

    /// <summary>Distinct prompt texts.</summary>
    public int Count => texts.Count;

    /// <summary>The lineage file of <paramref name="modelDir"/> (when present) plus <paramref name="files"/>.</summary>
    public static TrainingPrompts ForModel(string modelDir, IEnumerable<string>? files = null)
    {
        var t = new TrainingPrompts();
        var lineage = Path.Combine(modelDir, FileName);
        if (File.Exists(lineage)) t.AddFile(lineage);
        foreach (var f in files ?? []) t.AddFile(f);
        return t;
    }

    public void Add(SyntheticProblem p)
    {
        texts.Add(HeldOut.NormalizePrompt(p.Prompt));
        keys.Add(HeldOut.Key(p));
    }

    public bool Contains(SyntheticProblem p) => texts.Contains(HeldOut.NormalizePrompt(p.Prompt)) || keys.Contains(HeldOut.Key(p));

    public string Describe() => sources.Count == 0 ? $"{Count} prompts" : $"{Count} prompts from {string.Join(", ", sources)}";

    /// <summary>Adds every prompt of a synth-record or chat-record JSONL file; a malformed line is an error naming file and line.</summary>
    public void AddFile(string path)
    {
        int before = Count;
        foreach (var (line, where) in JsonLines.Read(path, "training prompts: JSONL of `seek data synth` or chat records"))
            using (var doc = JsonLines.ParseObject(line, where)) AddRecord(doc.RootElement, where);
        sources.Add($"{Path.GetFileName(path)} (+{Count - before})");
    }

    void AddRecord(JsonElement root, string where)
    {
        if (root.TryGetProperty("messages", out var messages))
        {
            if (messages.ValueKind != JsonValueKind.Array) throw new SeekSharpException($"{where}: \"messages\" must be an array.");
            foreach (var m in messages.EnumerateArray())
                if (m.ValueKind == JsonValueKind.Object && m.TryGetProperty("role", out var role) && role.GetString() == "user"
                    && m.TryGetProperty("content", out var content) && content.ValueKind == JsonValueKind.String)
                    texts.Add(HeldOut.NormalizePrompt(content.GetString()!));
            if (root.TryGetProperty("problem", out var problem)) Add(ParseProblem(problem, where + ": problem"));
            return;
        }
        Add(ParseProblem(root, where));
    }

    static SyntheticProblem ParseProblem(JsonElement e, string where)
    {
        try { return SyntheticData.Parse(e).Problem; }
        catch (Exception ex) when (ex is FormatException or InvalidOperationException or KeyNotFoundException)
        {
            throw new SeekSharpException($"{where}: expected a \"messages\" record or a `seek data synth` record: {ex.Message}");
        }
    }

    /// <summary>Writes <paramref name="outDir"/>/train_prompts.jsonl: the parent's lineage lines, then <paramref name="used"/>.</summary>
    public static void WriteLineage(string outDir, string? parentDir, IEnumerable<SyntheticProblem> used, string idPrefix)
    {
        var sb = new StringBuilder();
        var parent = parentDir is null ? null : Path.Combine(parentDir, FileName);
        if (parent is not null && File.Exists(parent))
            foreach (var line in File.ReadLines(parent, Encoding.UTF8))
                if (!string.IsNullOrWhiteSpace(line)) sb.Append(line).Append('\n');
        int i = 0;
        foreach (var p in used)
            sb.Append(SyntheticData.ToJsonLine(new SyntheticRecord($"{idPrefix}-{++i:D6}", p))).Append('\n');
        AtomicFile.WriteAllText(Path.Combine(outDir, FileName), sb.ToString());
    }
}
