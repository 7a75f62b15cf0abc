using System.Globalization;
using SeekSharp.Data.Synthetic;

namespace SeekSharp.Reasoning;

// The TinyZero countdown reward, made exact: the candidate must parse (see Equation for the grammar:
// digits, + - * /, parentheses and spaces only), use exactly the provided multiset of numbers (each
// once, none missing, none invented), never divide by zero, and evaluate (as an exact rational) to the
// target. Only numbers and target are read from the problem, never its stored equation, so any correct
// equation scores, not just the one the generator happened to build.

/// <summary>Checks countdown equations.</summary>
public static class CountdownVerifier
{
    public const string Id = "countdown";

    public static Verdict Verify(SyntheticProblem problem, string candidate) =>
        Verify(CountdownTask.ParseNumbers(problem.Param("numbers")),
            long.Parse(problem.Param("target"), CultureInfo.InvariantCulture), candidate);

    public static Verdict Verify(IReadOnlyList<long> numbers, long target, string candidate)
    {
        if (!Equation.TryParse(candidate.Trim(), out var expr, out var error)) return Verdict.Fail($"cannot parse: {error}");
        var used = Equation.Numbers(expr!).Order().ToList();
        var given = numbers.Order().ToList();
        var unknown = used.Except(given).ToList();
        if (unknown.Count > 0) return Verdict.Fail($"uses {string.Join(", ", unknown)}, which {(unknown.Count == 1 ? "is" : "are")} not given");
        foreach (var n in used.Distinct())
            if (used.Count(x => x == n) > given.Count(x => x == n)) return Verdict.Fail($"uses {n} more often than given");
        if (!used.SequenceEqual(given)) return Verdict.Fail($"must use every number exactly once; used [{string.Join(", ", used)}] of [{string.Join(", ", given)}]");
        if (Equation.Evaluate(expr!) is not { } value) return Verdict.Fail("division by zero");
        return value == new Rational(target, 1) ? Verdict.Pass : Verdict.Fail($"evaluates to {value}, not {target}");
    }

    public static bool Check(SyntheticProblem problem, string candidate) => Verify(problem, candidate).Correct;
}
