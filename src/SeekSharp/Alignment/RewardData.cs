using System.Text.Json;
using SeekSharp.IO;

namespace SeekSharp.Alignment;

// Reward-model data is JSONL of one kind per file:
//   preference pairs  {"prompt": "...", "chosen": "...", "rejected": "..."}  → Bradley–Terry objective
//   labelled samples  {"prompt": "...", "completion": "...", "label": 0|1}  → binary cross-entropy
// (labels from a verifier: 1 = verified correct). The prompt is the user turn, completions are assistant
// text (R1 tags allowed). The first record decides the kind; a record of the other kind is an error.

/// <summary>The training objective a reward-model file implies.</summary>
public enum RewardObjective { BradleyTerry, BinaryCrossEntropy }

/// <summary>One preference pair, or one labelled sample (Rejected null, Label set).</summary>
public sealed record RewardRecord(string Prompt, string Chosen, string? Rejected, double? Label, string Source);

public static class RewardData
{
    /// <summary>Reads a reward file and the objective its records imply.</summary>
    public static (List<RewardRecord> Records, RewardObjective Objective) Read(string path)
    {
        var list = new List<RewardRecord>();
        RewardObjective? kind = null;
        foreach (var (line, where) in JsonLines.Read(path, "JSONL of prompt/chosen/rejected or prompt/completion/label records"))
        {
            var r = ParseLine(line, where);
            var k = r.Rejected is null ? RewardObjective.BinaryCrossEntropy : RewardObjective.BradleyTerry;
            kind ??= k;
            if (k != kind)
                throw new SeekSharpException($"{where}: a {Describe(k)} record in a file of {Describe(kind.Value)} records (one kind per file).");
            list.Add(r);
        }
        if (kind is null) throw new SeekSharpException($"{path}: no records (the file is empty).");
        return (list, kind.Value);
    }

    static string Describe(RewardObjective k) => k == RewardObjective.BradleyTerry ? "preference-pair (chosen/rejected)" : "labelled (completion/label)";

    public static RewardRecord ParseLine(string line, string where)
    {
        using var doc = JsonLines.ParseObject(line, where);
        var root = doc.RootElement;
        string? Str(string name) => root.TryGetProperty(name, out var v)
            ? v.ValueKind == JsonValueKind.String ? v.GetString() : throw new SeekSharpException($"{where}: field '{name}' must be a string.")
            : null;
        var prompt = Str("prompt") ?? throw new SeekSharpException($"{where}: missing field 'prompt'.");
        if (Str("chosen") is { } chosen)
        {
            var rejected = Str("rejected") ?? throw new SeekSharpException($"{where}: missing field 'rejected' (a preference pair needs chosen and rejected).");
            return new RewardRecord(prompt, chosen, rejected, null, where);
        }
        var completion = Str("completion")
            ?? throw new SeekSharpException($"{where}: expected 'chosen' and 'rejected' (preference pair) or 'completion' and 'label' (labelled sample).");
        if (!root.TryGetProperty("label", out var l)) throw new SeekSharpException($"{where}: missing field 'label' (0 or 1).");
        double label = l.ValueKind switch
        {
            JsonValueKind.True => 1, JsonValueKind.False => 0,
            JsonValueKind.Number when l.GetDouble() is 0 or 1 => l.GetDouble(),
            _ => throw new SeekSharpException($"{where}: field 'label' must be 0 or 1 (or true/false), got {l.GetRawText()}."),
        };
        return new RewardRecord(prompt, completion, null, label, where);
    }
}
