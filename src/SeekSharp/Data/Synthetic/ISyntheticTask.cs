namespace SeekSharp.Data.Synthetic;

// One interface for every generator so `seek data synth --task ID`, augmentation and the RL reward
// loop treat tasks alike. Augment must recompute the answer from (possibly re-sampled) parameters:
// an augmented problem whose answer was copied could silently disagree with its own prompt.

/// <summary>A generator of verifiable problems.</summary>
public interface ISyntheticTask
{
    /// <summary>Task id; also the checker id of the problems it makes.</summary>
    string Id { get; }

    /// <summary>A fresh problem; deterministic for the state of <paramref name="rng"/>.</summary>
    SyntheticProblem Generate(Random rng);

    /// <summary>A variant of <paramref name="p"/>: re-sampled numbers, swapped commuting operands, another
    /// phrasing and/or distractor sentences. The prompt always differs and the answer is recomputed.</summary>
    SyntheticProblem Augment(SyntheticProblem p, Random rng);

    /// <summary>Recomputes the answer from <paramref name="p"/>'s parameters alone (never from its Answer).</summary>
    string Solve(SyntheticProblem p);
}

/// <summary>The registry of synthetic tasks by id.</summary>
public static class SyntheticTasks
{
    static readonly ISyntheticTask[] All = [ArithmeticTask.Instance, CountdownTask.Instance, FinanceTask.Instance];

    /// <summary>The known task ids.</summary>
    public static IReadOnlyList<string> Ids { get; } = All.Select(t => t.Id).ToArray();

    /// <summary>The task named <paramref name="id"/> (case-insensitive).</summary>
    public static ISyntheticTask Get(string id) =>
        All.FirstOrDefault(t => string.Equals(t.Id, id?.Trim(), StringComparison.OrdinalIgnoreCase))
        ?? throw new SeekSharpException($"unknown synthetic task '{id}'; known tasks: {string.Join(", ", Ids)}");
}
