using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using SeekSharp.Data.Synthetic;

namespace SeekSharp.Reasoning;

// Evaluation must never score a problem the model trained on. Two safeguards:
// 1. A partition of the problem space. A problem's key is what makes it the same problem whatever the
//    wording: arithmetic's operation and operands (sorted when the operation commutes), countdown's number
//    multiset and target, finance's figures (not the company, the template or the order they are stated
//    in). One bucket of ten by a stable hash of the key is held out: evaluation draws only from it, and
//    every training source (RL prompts, rejection-sampling prompts, cold-start SFT problems, the r1
//    recipe's pretraining corpus) only from the other nine. Seed ranges alone would not do: small
//    problem spaces (1-digit sums) repeat across any two streams.
// 2. A check. `seek chat eval` compares the held-out set with the prompts a model actually trained on
//    (train_prompts.jsonl in the model folder, which each RL and sampling stage extends with its parent's,
//    and any --train-prompts files), by exact prompt text (whitespace-normalized) and by key, and refuses
//    to report a score when any overlap.

/// <summary>The held-out evaluation set and the training side of the partition.</summary>
public static class HeldOut
{
    /// <summary>Seed of the stream the held-out set is drawn from (reserved: training streams never use it).</summary>
    public const int Seed = 0x5EE4_0E7A;
    /// <summary>Number of hash buckets; bucket 0 is held out.</summary>
    public const int Buckets = 10;

    static readonly HashSet<string> Presentation = ["template", "swapped", "company", "equation"];

    /// <summary>What identifies the problem independent of its wording.</summary>
    public static string Key(SyntheticProblem p)
    {
        var inv = CultureInfo.InvariantCulture;
        switch (p.Task)
        {
            case "arithmetic" when p.Parameters.ContainsKey("op"):
            {
                string op = p.Param("op"), a = p.Param("a"), b = p.Param("b");
                if (op is "+" or "x" && string.CompareOrdinal(a, b) > 0) (a, b) = (b, a);
                return $"arithmetic|{op}|{a}|{b}";
            }
            case "countdown" when p.Parameters.ContainsKey("numbers"):
                return $"countdown|{string.Join(",", CountdownTask.ParseNumbers(p.Param("numbers")).Order().Select(n => n.ToString(inv)))}|{p.Param("target")}";
        }
        var figures = p.Parameters.Where(kv => !Presentation.Contains(kv.Key)).OrderBy(kv => kv.Key, StringComparer.Ordinal)
            .Select(kv => $"{kv.Key}={kv.Value}").ToList();
        return figures.Count > 0 ? $"{p.Task}|{string.Join("|", figures)}" : $"{p.Task}|text|{NormalizePrompt(p.Prompt)}";
    }

    /// <summary>True when the problem lies in the held-out bucket.</summary>
    public static bool IsHeldOut(SyntheticProblem p)
    {
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(Key(p)), hash);
        return BitConverter.ToUInt32(hash) % Buckets == 0;
    }

    /// <summary>Whitespace-collapsed, trimmed prompt text.</summary>
    public static string NormalizePrompt(string prompt) =>
        string.Join(' ', prompt.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));

    /// <summary>The first <paramref name="count"/> distinct held-out problems of the reserved stream.</summary>
    public static List<SyntheticProblem> Problems(ISyntheticTask task, int count)
    {
        if (count < 1) throw new SeekSharpException($"--count: expected 1 or more held-out problems, got {count}.");
        var rng = new Random(Seed);
        var seen = new HashSet<string>();
        var list = new List<SyntheticProblem>(count);
        for (long tries = 0; list.Count < count; tries++)
        {
            if (tries > 1000L * count + 100_000)
                throw new SeekSharpException($"task {task.Id}: only {list.Count} distinct held-out problems found; ask for fewer with --count.");
            var p = task.Generate(rng);
            if (IsHeldOut(p) && seen.Add(Key(p))) list.Add(p);
        }
        return list;
    }

    /// <summary>An endless stream of training problems (never held out) for a seed.</summary>
    public static IEnumerable<SyntheticProblem> TrainingStream(ISyntheticTask task, int seed)
    {
        if (seed == Seed) throw new SeekSharpException($"seed {seed} is reserved for the held-out evaluation set; choose another --seed.");
        var rng = new Random(seed);
        while (true)
        {
            var p = task.Generate(rng);
            if (!IsHeldOut(p)) yield return p;
        }
    }

    /// <summary>Throws when any held-out problem's prompt text or key occurs among the training prompts.</summary>
    public static void CheckDisjoint(IReadOnlyList<SyntheticProblem> heldOut, TrainingPrompts training)
    {
        var overlaps = heldOut.Where(training.Contains).ToList();
        if (overlaps.Count > 0)
            throw new SeekSharpException($"held-out set overlaps the training prompts ({training.Describe()}): {overlaps.Count} of {heldOut.Count} " +
                $"problems, e.g. \"{overlaps[0].Prompt}\"; refusing to report a score on problems the model trained on.");
    }
}
