using System.Globalization;
using System.Numerics;
using System.Text.RegularExpressions;
using SeekSharp.Data.Synthetic;

namespace SeekSharp.Reasoning;

// Integer answers compare exactly (BigInteger, no overflow). Accepted forms: surrounding whitespace, an
// optional leading '+' or '-', and commas only as proper thousands separators ("12,345" yes, "1,23"
// no), because people and models write big numbers both ways. Rejected: decimals ("42.0"), units,
// words, trailing punctuation — a reward should not teach that "42." or "about 42" is a clean answer.

/// <summary>Checks integer answers to arithmetic problems.</summary>
public static partial class ArithmeticVerifier
{
    public const string Id = "arithmetic";

    [GeneratedRegex(@"^[+-]?(\d{1,3}(,\d{3})+|\d+)$")]
    private static partial Regex IntegerForm();

    /// <summary>The integer <paramref name="text"/> denotes, or null when it is not in an accepted form.</summary>
    public static BigInteger? ParseInteger(string text)
    {
        var t = text.Trim();
        if (!IntegerForm().IsMatch(t)) return null;
        return BigInteger.Parse(t.Replace(",", ""), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
    }

    public static Verdict Verify(SyntheticProblem problem, string candidate)
    {
        if (ParseInteger(problem.Answer) is not { } expected)
            throw new SeekSharpException($"arithmetic problem has a non-integer answer '{problem.Answer}'");
        if (ParseInteger(candidate) is not { } got) return Verdict.Fail($"not an integer: '{candidate.Trim()}'");
        return got == expected ? Verdict.Pass : Verdict.Fail($"{got} != {expected}");
    }

    public static bool Check(SyntheticProblem problem, string candidate) => Verify(problem, candidate).Correct;
}
