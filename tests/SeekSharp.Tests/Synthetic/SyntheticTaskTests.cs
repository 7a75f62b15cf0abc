using SeekSharp.Data.Synthetic;
using SeekSharp.Reasoning;

namespace SeekSharp.Tests.Synthetic;

// Every generated or augmented problem must pass its own verifier, its answer must equal the one
// recomputed from its parameters, and augmentation must actually change what the model reads.
public class SyntheticTaskTests
{
    public static TheoryData<string> TaskIds => new() { "arithmetic", "countdown", "finance" };

    [Theory, MemberData(nameof(TaskIds))]
    public void Generated_problems_pass_their_verifier_and_recompute(string id)
    {
        var task = SyntheticTasks.Get(id);
        for (int seed = 0; seed < 40; seed++)
        {
            var rng = new Random(seed);
            for (int i = 0; i < 10; i++)
            {
                var p = task.Generate(rng);
                Assert.Equal(id, p.Task);
                Assert.Equal(id, p.Checker);
                Assert.True(Verifiers.Check(p.Checker, p, p.Answer), $"{p.Prompt} -> {p.Answer}: {Verifiers.Verify(p.Checker, p, p.Answer).Reason}");
                var solved = task.Solve(p);
                Assert.True(Verifiers.Check(p, solved), $"{p.Prompt}: solved {solved}");
                if (id != "countdown") Assert.Equal(p.Answer, solved);
                Assert.Contains(p.Answer, p.Solution);
            }
        }
    }

    [Theory, MemberData(nameof(TaskIds))]
    public void Augmented_problems_change_the_prompt_and_keep_a_correct_answer(string id)
    {
        var task = SyntheticTasks.Get(id);
        var rng = new Random(7);
        int resampled = 0;
        for (int i = 0; i < 300; i++)
        {
            var p = task.Generate(rng);
            var a = task.Augment(p, rng);
            Assert.NotEqual(p.Prompt, a.Prompt);
            Assert.True(Verifiers.Check(a, a.Answer), $"{a.Prompt} -> {a.Answer}");
            var solved = task.Solve(a);
            Assert.True(Verifiers.Check(a, solved));
            if (id != "countdown") Assert.Equal(a.Answer, solved);
            else Assert.Equal(Equation.Evaluate(Parse(a.Answer)), new Rational(long.Parse(a.Param("target")), 1));
            if (a.Answer != p.Answer) resampled++;
            // Augmenting an augmented problem works too (parameters are complete).
            var b = task.Augment(a, rng);
            Assert.True(Verifiers.Check(b, b.Answer));
        }
        Assert.True(resampled > 50, $"only {resampled} of 300 augmentations changed the answer");
    }

    static Expr Parse(string s) => Equation.TryParse(s, out var e, out _) ? e! : throw new Xunit.Sdk.XunitException(s);

    [Fact]
    public void Distractor_numbers_do_not_change_the_answer()
    {
        var task = SyntheticTasks.Get("arithmetic");
        var rng = new Random(11);
        int seen = 0;
        for (int i = 0; i < 200; i++)
        {
            var p = ArithmeticTask.Add(123, 456);
            var a = task.Augment(p, rng);
            if (a.Param("a") == "123" && a.Param("b") == "456" && a.Prompt.Length > 40)
            {
                seen++;
                Assert.Equal("579", a.Answer);
            }
        }
        Assert.True(seen > 0);
    }

    [Fact]
    public void Swapped_operands_commute()
    {
        var p = ArithmeticTask.Multiply(345, 7, template: 0, swapped: true);
        Assert.Equal("What is 7 x 345?", p.Prompt);
        Assert.Equal("2415", p.Answer);
        Assert.Equal("What is 27 + 58?", ArithmeticTask.Add(27, 58).Prompt);
        Assert.Equal("What is 58 + 27?", ArithmeticTask.Add(27, 58, swapped: true).Prompt);
    }

    [Fact]
    public void Countdown_prompt_matches_the_TinyZero_form()
    {
        var p = CountdownTask.Instance.Generate(new Random(3));
        var numbers = CountdownTask.ParseNumbers(p.Param("numbers"));
        Assert.InRange(numbers.Length, 3, 4);
        Assert.All(numbers, n => Assert.InRange(n, 1, 99));
        Assert.InRange(long.Parse(p.Param("target")), 1, 999);
        var template0 = Enumerable.Range(0, 200).Select(s => CountdownTask.Instance.Generate(new Random(s))).First(x => x.Param("template") == "0");
        Assert.Matches(@"^Using the numbers \[[\d, ]+\], create an equation that equals \d+\. You can use basic arithmetic operations \(\+, -, \*, /\) and each number can only be used once\.$", template0.Prompt);
    }

    [Fact]
    public void Finance_covers_every_kind_and_states_its_rounding()
    {
        var rng = new Random(5);
        var problems = Enumerable.Range(0, 300).Select(_ => FinanceTask.Instance.Generate(rng)).ToList();
        Assert.Equal(6, problems.Select(p => p.Param("kind")).Distinct().Count());
        Assert.All(problems, p => Assert.Matches("(decimal place|nearest cent)", p.Prompt));
        var monthly = problems.First(p => p.Parameters.GetValueOrDefault("periods_per_year") == "12");
        Assert.Contains("monthly", monthly.Prompt);
    }

    [Fact]
    public void Finance_compound_interest_matches_a_hand_computation()
    {
        var p = new SyntheticProblem("", "", "", "finance")
        {
            Parameters = new Dictionary<string, string>
            {
                ["kind"] = "compound_interest", ["principal"] = "1000", ["rate"] = "5", ["years"] = "2", ["periods_per_year"] = "1", ["rounding"] = "cents",
            },
        };
        Assert.Equal("$1,102.50", FinanceTask.Instance.Solve(p)); // 1000 x 1.05^2
        var monthly = p with { Parameters = new Dictionary<string, string>(p.Parameters) { ["periods_per_year"] = "12", ["years"] = "1", ["rate"] = "12" } };
        Assert.Equal("$1,126.83", FinanceTask.Instance.Solve(monthly)); // 1000 x 1.01^12 = 1126.825...
    }

    [Fact]
    public void Generation_is_deterministic_for_a_seed()
    {
        foreach (var id in SyntheticTasks.Ids)
        {
            var a = SyntheticData.Generate(SyntheticTasks.Get(id), 20, 42, augment: true);
            var b = SyntheticData.Generate(SyntheticTasks.Get(id), 20, 42, augment: true);
            Assert.Equal(a.Select(r => r.Problem.Prompt + r.Problem.Answer), b.Select(r => r.Problem.Prompt + r.Problem.Answer));
        }
    }

    [Fact]
    public void Unknown_task_lists_the_known_ones()
    {
        var e = Assert.Throws<SeekSharpException>(() => SyntheticTasks.Get("sudoku"));
        Assert.Contains("arithmetic, countdown, finance", e.Message);
        Assert.Same(CountdownTask.Instance, SyntheticTasks.Get("Countdown"));
    }
}
