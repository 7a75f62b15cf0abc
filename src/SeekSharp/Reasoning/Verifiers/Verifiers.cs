using SeekSharp.Data.Synthetic;

namespace SeekSharp.Reasoning;

// Verifiers are pure functions of (problem, candidate answer): no I/O, no randomness, no model. That is
// what lets the same code judge generated data in tests today and serve as the rule-based reward of
// R1-style RL later (DeepSeek-R1 uses accuracy rewards from deterministic checkers, not a reward model).
// The candidate is the extracted final answer (e.g. the text inside <answer>...</answer>); extraction
// and format rewards belong to the RL layer, not here.

/// <summary>The outcome of a check, with the reason a candidate was rejected.</summary>
public readonly record struct Verdict(bool Correct, string Reason)
{
    public static Verdict Pass => new(true, "correct");
    public static Verdict Fail(string reason) => new(false, reason);
}

/// <summary>Dispatches to the verifier named by a problem's checker id.</summary>
public static class Verifiers
{
    /// <summary>The known checker ids.</summary>
    public static IReadOnlyList<string> Ids { get; } = [ArithmeticVerifier.Id, CountdownVerifier.Id, FinanceVerifier.Id];

    /// <summary>True when <paramref name="candidateAnswer"/> is a correct answer to <paramref name="problem"/>.</summary>
    public static bool Check(string checkerId, SyntheticProblem problem, string? candidateAnswer) =>
        Verify(checkerId, problem, candidateAnswer).Correct;

    /// <summary>Like <see cref="Check"/>, with the reason. Unknown checker id: SeekSharpException.</summary>
    public static Verdict Verify(string checkerId, SyntheticProblem problem, string? candidateAnswer)
    {
        if (candidateAnswer is null) return Verdict.Fail("no answer");
        return checkerId switch
        {
            ArithmeticVerifier.Id => ArithmeticVerifier.Verify(problem, candidateAnswer),
            CountdownVerifier.Id => CountdownVerifier.Verify(problem, candidateAnswer),
            FinanceVerifier.Id => FinanceVerifier.Verify(problem, candidateAnswer),
            _ => throw new SeekSharpException($"unknown checker '{checkerId}'; known checkers: {string.Join(", ", Ids)}"),
        };
    }

    /// <summary>Checks with the problem's own checker.</summary>
    public static bool Check(SyntheticProblem problem, string? candidateAnswer) => Check(problem.Checker, problem, candidateAnswer);
}
