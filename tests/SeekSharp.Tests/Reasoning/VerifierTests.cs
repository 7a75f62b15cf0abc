using SeekSharp.Data.Synthetic;
using SeekSharp.Reasoning;

namespace SeekSharp.Tests.Reasoning;

public class VerifierTests
{
    static SyntheticProblem Countdown(string numbers, long target) =>
        new("", "", "", "countdown") { Parameters = new Dictionary<string, string> { ["numbers"] = numbers, ["target"] = target.ToString() } };

    [Theory]
    [InlineData("55 + 36 - 19 - 7", true, "correct")]
    [InlineData(" (55 + 36) - (19 + 7) ", true, "correct")]
    [InlineData("55 + 36 - 19 - 7 + 7 - 7", false, "more often")]      // a number used twice
    [InlineData("55 + 36 - 19", false, "exactly once")]              // a number missing
    [InlineData("55 + 36 - 19 - 7 + 0", false, "not given")]         // a number not given
    [InlineData("55 + 10", false, "not given")]                      // right value, wrong numbers
    [InlineData("55 + 36 / (19 - 19) - 7", false, "")]               // (uses 19 twice, also divides by zero)
    [InlineData("55 + 36 - 19 - 7 = 65", false, "cannot parse")]     // '=' is not allowed
    [InlineData("55 + 36 - 19 - 7;", false, "cannot parse")]
    [InlineData("55 + 36 - 19 - 7x", false, "cannot parse")]
    [InlineData("55 + 36 - 19 - 07", false, "cannot parse")]         // leading zero
    [InlineData("55 + 36 - -19 - 7", false, "cannot parse")]         // no unary minus
    [InlineData("", false, "cannot parse")]
    [InlineData("55 + 36 + 19 - 7", false, "evaluates to 103")]      // right numbers, wrong value
    public void Countdown_worked_examples(string candidate, bool ok, string reason)
    {
        var v = CountdownVerifier.Verify(Countdown("19,36,55,7", 65), candidate);
        Assert.Equal(ok, v.Correct);
        Assert.Contains(reason, v.Reason);
    }

    [Fact]
    public void Countdown_division_by_zero_and_exact_fractions()
    {
        Assert.Equal("division by zero", CountdownVerifier.Verify(Countdown("5,5,3", 3), "3 / (5 - 5)").Reason);
        Assert.True(CountdownVerifier.Verify(Countdown("1,3,3", 1), "1 / 3 * 3").Correct);   // exact, not 0.999...
        Assert.True(CountdownVerifier.Verify(Countdown("2,4,8", 1), "8 / 4 / 2").Correct);   // left associative
        Assert.False(CountdownVerifier.Verify(Countdown("2,4,8", 4), "8 / 4 / 2").Correct);
        Assert.True(CountdownVerifier.Verify(Countdown("7,7,2", 98), "7 * 7 * 2").Correct);  // repeated given number is fine
    }

    [Fact]
    public void Equation_render_parses_back_to_the_same_value()
    {
        var e = new BinaryExpr('-', new NumberExpr(10), new BinaryExpr('-', new NumberExpr(4), new NumberExpr(3)));
        Assert.Equal("10 - (4 - 3)", Equation.Render(e));
        Assert.True(Equation.TryParse(Equation.Render(e), out var back, out _));
        Assert.Equal(new Rational(9, 1), Equation.Evaluate(back!));
    }

    static SyntheticProblem Arith(string answer) => new("", "", answer, "arithmetic");

    [Theory]
    [InlineData("1234", true)]
    [InlineData(" 1234 ", true)]
    [InlineData("1,234", true)]
    [InlineData("+1234", true)]
    [InlineData("12,34", false)]
    [InlineData("1234.0", false)]
    [InlineData("1235", false)]
    [InlineData("about 1234", false)]
    [InlineData("", false)]
    public void Arithmetic_forms(string candidate, bool ok) => Assert.Equal(ok, Verifiers.Check("arithmetic", Arith("1234"), candidate));

    [Fact]
    public void Arithmetic_negative_and_huge_values_are_exact()
    {
        Assert.True(Verifiers.Check("arithmetic", Arith("-42"), "-42"));
        Assert.False(Verifiers.Check("arithmetic", Arith("-42"), "42"));
        Assert.False(Verifiers.Check("arithmetic", Arith("99999999999999999999"), "99999999999999999998"));
    }

    static SyntheticProblem Fin(string answer, string rounding) =>
        new("", "", answer, "finance") { Parameters = new Dictionary<string, string> { ["rounding"] = rounding } };

    [Theory]
    [InlineData("$1,234.50", "cents", "$1,234.50", true)]
    [InlineData("$1,234.50", "cents", "1234.5", true)]
    [InlineData("$1,234.50", "cents", " $1234.50 ", true)]
    [InlineData("$1,234.50", "cents", "1,234.499", true)]   // rounds to the cent
    [InlineData("$1,234.50", "cents", "1234.51", false)]
    [InlineData("$1,234.50", "cents", "1234.5%", false)]    // wrong unit
    [InlineData("$1,234.50", "cents", "$12,34.50", false)]
    [InlineData("-$12.00", "cents", "$-12", true)]
    [InlineData("-$12.00", "cents", "-12.00", true)]
    [InlineData("-$12.00", "cents", "12.00", false)]
    [InlineData("12.5%", "percent_1dp", "12.5%", true)]
    [InlineData("12.5%", "percent_1dp", "12.5", true)]
    [InlineData("12.5%", "percent_1dp", "12.54%", true)]
    [InlineData("12.5%", "percent_1dp", "12.45%", true)]    // half away from zero: 12.45 -> 12.5
    [InlineData("12.5%", "percent_1dp", "12.44%", false)]
    [InlineData("12.5%", "percent_1dp", "0.125", false)]    // a fraction is not a percent
    [InlineData("12.5%", "percent_1dp", "$12.5", false)]
    [InlineData("-3.2%", "percent_1dp", "-3.2%", true)]
    [InlineData("23.45", "2dp", "23.45", true)]
    [InlineData("23.45", "2dp", "23.454", true)]
    [InlineData("23.45", "2dp", "23.46", false)]
    [InlineData("23.45", "2dp", "twenty", false)]
    public void Finance_forms_and_rounding(string answer, string rounding, string candidate, bool ok) =>
        Assert.Equal(ok, Verifiers.Check("finance", Fin(answer, rounding), candidate));

    [Fact]
    public void Wrong_answers_fail_for_generated_problems()
    {
        var rng = new Random(1);
        foreach (var id in SyntheticTasks.Ids)
            for (int i = 0; i < 50; i++)
            {
                var p = SyntheticTasks.Get(id).Generate(rng);
                string wrong = id switch
                {
                    "arithmetic" => (long.Parse(p.Answer) + 1).ToString(),
                    "countdown" => p.Answer + " + 1",
                    _ => FinanceTask.FormatAnswer(FinanceVerifier.ParseAmount(p.Answer)!.Value.Value + 0.5m, p.Param("rounding")),
                };
                Assert.False(Verifiers.Check(p, wrong), $"{p.Prompt}: {wrong}");
                Assert.False(Verifiers.Check(p, "garbage"));
                Assert.False(Verifiers.Check(p, null));
            }
    }

    [Fact]
    public void Unknown_checker_is_a_user_error()
    {
        var e = Assert.Throws<SeekSharpException>(() => Verifiers.Check("sudoku", Arith("1"), "1"));
        Assert.Contains("arithmetic, countdown, finance", e.Message);
    }
}
