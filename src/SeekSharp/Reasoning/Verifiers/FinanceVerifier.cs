using System.Globalization;
using System.Text.RegularExpressions;
using SeekSharp.Data.Synthetic;

namespace SeekSharp.Reasoning;

// A finance answer is a number; it is correct when, after the problem's own rounding rule (1 decimal
// for percent_1dp, 2 for 2dp and cents, half away from zero), it equals the expected answer. Accepted
// forms: "$1,234.50", "1234.5", "-$12.00", "$-12", "12.5%", "12.5", surrounding spaces. Commas only as
// thousands separators. A percent is read as a number of percent, never as a fraction ("0.125" is not
// 12.5%), and '%' on a money answer (or '$' on a percent) is rejected: the unit must fit the question.
// Finer precision than asked ("12.53%" for 12.5%) passes because it rounds to the same value.

/// <summary>Checks numeric finance answers under the problem's rounding rule.</summary>
public static partial class FinanceVerifier
{
    public const string Id = "finance";

    [GeneratedRegex(@"^(?<neg1>-)?(?<dollar>\$)?(?<neg2>-)?(?<num>\d{1,3}(,\d{3})+(\.\d+)?|\d+(\.\d+)?|\.\d+)(?<pct>%)?$")]
    private static partial Regex NumberForm();

    /// <summary>The number in <paramref name="text"/> and its unit ("$", "%" or ""), or null if not an accepted form.</summary>
    public static (decimal Value, string Unit)? ParseAmount(string text)
    {
        var m = NumberForm().Match(text.Trim().Replace(" ", ""));
        if (!m.Success) return null;
        bool neg = m.Groups["neg1"].Success, neg2 = m.Groups["neg2"].Success, dollar = m.Groups["dollar"].Success, pct = m.Groups["pct"].Success;
        if ((neg && neg2) || (dollar && pct) || (neg2 && !dollar)) return null;
        if (!decimal.TryParse(m.Groups["num"].Value.Replace(",", ""), NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var v)) return null;
        return (neg || neg2 ? -v : v, dollar ? "$" : pct ? "%" : "");
    }

    public static Verdict Verify(SyntheticProblem problem, string candidate)
    {
        string rounding = problem.Param("rounding");
        if (ParseAmount(problem.Answer) is not { } expected) throw new SeekSharpException($"finance problem has a malformed answer '{problem.Answer}'");
        if (ParseAmount(candidate) is not { } got) return Verdict.Fail($"not a number: '{candidate.Trim()}'");
        if (got.Unit == "%" && rounding != "percent_1dp") return Verdict.Fail("a percent where an amount was asked");
        if (got.Unit == "$" && rounding == "percent_1dp") return Verdict.Fail("a dollar amount where a percent was asked");
        decimal a = FinanceTask.Round(got.Value, rounding), e = FinanceTask.Round(expected.Value, rounding);
        return a == e ? Verdict.Pass : Verdict.Fail($"{a} != {e} after rounding ({rounding})");
    }

    public static bool Check(SyntheticProblem problem, string candidate) => Verify(problem, candidate).Correct;
}
