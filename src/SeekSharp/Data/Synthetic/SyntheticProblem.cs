namespace SeekSharp.Data.Synthetic;

// A problem carries, besides its text, the structured parameters its answer is computed from (operands,
// operation, rounding rule...). They let augmentation re-derive a fresh answer instead of copying one,
// let verifiers judge a candidate without re-reading the prompt, and survive a JSONL round trip as
// plain strings (invariant culture), so a record written today is re-checkable by a later verifier.

/// <summary>A generated problem with a verifiable answer and a worked solution.</summary>
/// <param name="Prompt">The question as a user would ask it.</param>
/// <param name="Solution">Step-by-step working that ends in the answer.</param>
/// <param name="Answer">The exact answer, as a verifier compares it.</param>
/// <param name="Checker">Id of the verifier that judges answers to this problem.</param>
public sealed record SyntheticProblem(string Prompt, string Solution, string Answer, string Checker)
{
    static readonly IReadOnlyDictionary<string, string> None = new Dictionary<string, string>();

    /// <summary>Id of the task that generated the problem (see <see cref="SyntheticTasks"/>); defaults to the checker id.</summary>
    public string Task { get; init; } = Checker;

    /// <summary>Structured inputs the answer is recomputed from; values are invariant-culture strings.</summary>
    public IReadOnlyDictionary<string, string> Parameters { get; init; } = None;

    /// <summary>The parameter <paramref name="key"/>, or a SeekSharpException naming the problem's task.</summary>
    public string Param(string key) => Parameters.TryGetValue(key, out var v)
        ? v : throw new SeekSharpException($"{Task} problem is missing parameter '{key}'");

    /// <summary>The problem as one pretraining document.</summary>
    public string ToDocument() => $"Problem: {Prompt}\nSolution: {Solution}\nAnswer: {Answer}\n";
}
