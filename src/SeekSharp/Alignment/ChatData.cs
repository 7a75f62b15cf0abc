using System.Text.Json;
using SeekSharp.Data.Synthetic;
using SeekSharp.IO;
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

/// <summary>One conversation to fine-tune on; <see cref="Source"/> is "file:line" for error messages.</summary>
public sealed record ChatExample(IReadOnlyList<ChatMessage> Messages, string Source);

/// <summary>A tokenized conversation: ids and the assistant mask the loss is taken on.</summary>
public sealed record ChatTokens(int[] Ids, bool[] Mask)
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
        try { return new ChatExample(R1Format.Chat(SyntheticData.Parse(root).Problem), where); }
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
        problems.Select((p, i) => new ChatExample(R1Format.Chat(p), $"{source}[{i}]")).ToList();

    /// <summary>Tokenizes conversations; ones longer than <paramref name="maxTokens"/> are left out and counted, not cut
    /// (a truncated R1 target would teach an answer without its end).</summary>
    public static (List<ChatTokens> Kept, int TooLong) Encode(BpeTokenizer tok, IReadOnlyList<ChatExample> examples, int maxTokens)
    {
        var kept = new List<ChatTokens>(examples.Count);
        int tooLong = 0;
        foreach (var e in examples)
        {
            var (ids, mask) = ChatTemplate.EncodeChat(tok, e.Messages);
            if (ids.Length > maxTokens) { tooLong++; continue; }
            kept.Add(new ChatTokens(ids, mask));
        }
        return (kept, tooLong);
    }
}
