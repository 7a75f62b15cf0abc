using System.Text.Json;
using SeekSharp.Data.Synthetic;
using SeekSharp.IO;
using SeekSharp.Ledger;
using SeekSharp.Reasoning;
using SeekSharp.Tokenization;

namespace SeekSharp.Alignment;

// Chat SFT data is JSONL, one conversation per line, in either of two shapes:
//   {"messages": [{"role": "user", "content": "..."}, {"role": "assistant", "content": "..."}]}
//     (OpenAI style; roles system, user, assistant; at least one assistant turn), or
//   a `seek data synth` record {"prompt", "solution", "answer", "checker", ...}, rendered by R1Format as
//     user = prompt, assistant = <think>solution</think><answer>answer</answer>.
// Each line is judged on its own, so one file may mix them (rejection samples next to synthetic problems).
// Reading is strict: a malformed line is an error naming the file and 1-based line, never a silent skip.

/// <summary>One conversation to fine-tune on; <see cref="Source"/> is "file:line" for error messages. <see cref="Origin"/>
/// is <see cref="DataOrigin.Synthetic"/> for a generated problem, else null (the file's own record says, if it has one).</summary>
public sealed record ChatExample(IReadOnlyList<ChatMessage> Messages, string Source, string? Origin = null);

/// <summary>A tokenized conversation: ids and the assistant mask the loss is taken on; <see cref="Example"/> is its index in
/// the list it was encoded from (-1: not known).</summary>
public sealed record ChatTokens(int[] Ids, bool[] Mask, int Example = -1)
{
    public int AssistantTokens => Mask.Count(m => m);
}

/// <summary>Reads chat SFT files and tokenizes conversations.</summary>
public static class ChatData
{
    static readonly string[] Roles = ["system", "user", "assistant"];

    /// <summary>Reads every conversation of a JSONL file (blank lines skipped).</summary>
    public static List<ChatExample> Read(string path)
    {
        var list = JsonLines.Read(path, "chat JSONL with \"messages\" or `seek data synth` records").Select(l => ParseLine(l.Line, l.Where)).ToList();
        if (list.Count == 0) throw new SeekSharpException($"{path}: no conversations (the file is empty).");
        return list;
    }

    /// <summary>Parses one line of either shape; errors are SeekSharpExceptions starting with <paramref name="where"/>.</summary>
    public static ChatExample ParseLine(string line, string where)
    {
        using var doc = JsonLines.ParseObject(line, where);
        var root = doc.RootElement;
        if (root.TryGetProperty("messages", out var messages)) return new ChatExample(ParseMessages(messages, where), where);
        if (!root.TryGetProperty("prompt", out _))
            throw new SeekSharpException($"{where}: expected a \"messages\" array or a synthetic problem (\"prompt\", \"solution\", \"answer\", \"checker\").");
        try { return new ChatExample(R1Format.Chat(SyntheticData.Parse(root).Problem), where, DataOrigin.Synthetic); }
        catch (FormatException e) { throw new SeekSharpException($"{where}: synthetic problem record: {e.Message}"); }
    }

    static List<ChatMessage> ParseMessages(JsonElement messages, string where)
    {
        if (messages.ValueKind != JsonValueKind.Array || messages.GetArrayLength() == 0)
            throw new SeekSharpException($"{where}: \"messages\" must be a non-empty array of {{\"role\", \"content\"}} objects.");
        var list = new List<ChatMessage>();
        int i = 0;
        foreach (var m in messages.EnumerateArray())
        {
            string field = $"messages[{i++}]";
            if (m.ValueKind != JsonValueKind.Object) throw new SeekSharpException($"{where}: {field} must be an object with \"role\" and \"content\".");
            string Str(string name) => m.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String
                ? v.GetString()! : throw new SeekSharpException($"{where}: {field}.{name} is missing or not a string.");
            var role = Str("role");
            if (!Roles.Contains(role)) throw new SeekSharpException($"{where}: {field}.role is \"{role}\"; expected system, user or assistant.");
            list.Add(new ChatMessage(role, Str("content")));
        }
        if (!list.Any(m => m.Role == "assistant" && m.Content.Length > 0))
            throw new SeekSharpException($"{where}: no assistant message with content (nothing to train on).");
        return list;
    }

    /// <summary>Conversations from synthetic problems, in the R1 format (for callers that hold problems in memory).</summary>
    public static List<ChatExample> FromProblems(IEnumerable<SyntheticProblem> problems, string source = "problems") =>
        problems.Select((p, i) => new ChatExample(R1Format.Chat(p), $"{source}[{i}]", DataOrigin.Synthetic)).ToList();

    /// <summary>Tokenizes conversations; ones longer than <paramref name="maxTokens"/> are left out and counted, not cut
    /// (a truncated R1 target would teach an answer without its end).</summary>
    public static (List<ChatTokens> Kept, int TooLong) Encode(BpeTokenizer tok, IReadOnlyList<ChatExample> examples, int maxTokens)
    {
        var kept = new List<ChatTokens>(examples.Count);
        int tooLong = 0;
        for (int i = 0; i < examples.Count; i++)
        {
            var (ids, mask) = ChatTemplate.EncodeChat(tok, examples[i].Messages);
            if (ids.Length > maxTokens) { tooLong++; continue; }
            kept.Add(new ChatTokens(ids, mask, i));
        }
        return (kept, tooLong);
    }

    /// <summary>The data side of a fine-tuning run's ledger: one source per file the conversations came from (or per
    /// in-memory set, "cold-start[i]" → "cold-start"), conversations read and kept (short enough), their tokens (both
    /// splits counted as train: the split is by conversation, after this), and each source's origin: synthetic for
    /// generated problems, else what the file's DataOrigin record says.</summary>
    public static LedgerData LedgerOf(string dataset, IReadOnlyList<ChatExample> examples, IReadOnlyList<ChatTokens> kept)
    {
        static string SourceOf(string where)
        {
            int bracket = where.LastIndexOf('[');
            if (bracket > 0 && where.EndsWith(']')) return where[..bracket];
            int colon = where.LastIndexOf(':');
            return colon > 0 && int.TryParse(where.AsSpan(colon + 1), out _) ? where[..colon] : where;
        }
        // A file may mix generated problems with conversations: each example's origin is its own, else its file's record.
        var fileOrigin = new Dictionary<string, string?>();
        string? FileOrigin(string f) => fileOrigin.TryGetValue(f, out var o) ? o : fileOrigin[f] = File.Exists(f) ? DataOrigin.Read(f) : null;
        var key = examples.Select(e => (File: SourceOf(e.Source), Origin: e.Origin ?? FileOrigin(SourceOf(e.Source)))).ToList();
        var keptOf = kept.Where(k => k.Example >= 0).ToLookup(k => key[k.Example]);
        var groups = key.GroupBy(k => k).ToList();
        var sources = groups.Select(g =>
        {
            bool alone = groups.Count(o => o.Key.File == g.Key.File) == 1;
            var name = Path.GetFileName(g.Key.File) + (alone ? "" : $" ({g.Key.Origin ?? "origin unknown"})");
            var k = keptOf[g.Key].ToList();
            long? bytes = alone && File.Exists(g.Key.File) ? new FileInfo(g.Key.File).Length : null;
            // The file's declared acquisition cost goes with the part its record describes (all of it when alone).
            double? usd = File.Exists(g.Key.File) && (alone || g.Key.Origin == FileOrigin(g.Key.File)) ? DataOrigin.AcquisitionUsd(g.Key.File) : null;
            return new LedgerDataSource(name, g.Count(), k.Count, bytes, k.Sum(x => (long)x.Ids.Length), 0, g.Key.Origin, usd);
        }).ToList();
        return new LedgerData { Dataset = dataset, Treatment = LedgerData.AsGiven, Sources = sources };
    }
}
