using System.Globalization;
using System.Text;
using SeekSharp.Reasoning;
using static SeekSharp.Data.Synthetic.Augmentation;

namespace SeekSharp.Data.Synthetic;

// Countdown, the task TinyZero used to reproduce R1-Zero: given 3-4 numbers, write an equation with
// + - * / that uses each number exactly once and equals the target. Targets are made reachable by
// construction: numbers (1-99) are combined pairwise at random, Countdown-game style, until one value
// is left, and that value is the target. Generation rules, so the worked solution reads like a person's:
//   - every intermediate is a positive integer: a - b only when a > b (never zero or negative);
//   - a / b only when b > 1 and divides a exactly (dividing by 1 is a do-nothing trick);
//   - the target lies in 1..999 (otherwise redraw; after 100 tries fall back to a sum).
// The verifier is more lenient than the generator (any exact rational path is accepted).
// Parameters: numbers (comma-separated, in prompt order), target, equation, template.

/// <summary>Generates Countdown equation puzzles with a reachable target.</summary>
public sealed class CountdownTask : ISyntheticTask
{
    public const string CheckerId = "countdown";
    public static readonly CountdownTask Instance = new();
    public string Id => CheckerId;

    static readonly string[] Templates =
    [
        "Using the numbers [{0}], create an equation that equals {1}. You can use basic arithmetic operations (+, -, *, /) and each number can only be used once.",
        "Make {1} from the numbers {2} using +, -, * and /. Use each number exactly once; parentheses are allowed.",
        "Target: {1}. Numbers: {3}. Combine every number exactly once with +, -, * or / to reach the target.",
        "Write an equation equal to {1} that uses each of the numbers [{0}] exactly once, with any of +, -, *, / and parentheses.",
    ];

    public SyntheticProblem Generate(Random rng)
    {
        var numbers = Enumerable.Range(0, rng.Next(3, 5)).Select(_ => (long)rng.Next(1, 100)).ToArray();
        return Make(numbers, Build(numbers, rng), rng.Next(Templates.Length));
    }

    /// <summary>A random expression over all <paramref name="numbers"/> following the rules above.</summary>
    static Expr Build(long[] numbers, Random rng)
    {
        for (int attempt = 0; attempt < 100; attempt++)
        {
            var items = numbers.Select(n => ((Expr)new NumberExpr(n), n)).ToList();
            while (items.Count > 1)
            {
                int i = rng.Next(items.Count), j = (i + 1 + rng.Next(items.Count - 1)) % items.Count;
                var (a, b) = (items[i], items[j]);
                items.RemoveAt(Math.Max(i, j)); items.RemoveAt(Math.Min(i, j));
                var moves = Moves(a, b).ToList();
                items.Add(moves[rng.Next(moves.Count)]);
            }
            var (e, v) = items[0];
            if (v is >= 1 and <= 999) return e;
        }
        return numbers.Skip(1).Aggregate((Expr)new NumberExpr(numbers[0]), (e, n) => new BinaryExpr('+', e, new NumberExpr(n)));
    }

    /// <summary>Every combination of two values the rules allow (always at least a + b).</summary>
    static IEnumerable<(Expr, long)> Moves((Expr e, long v) a, (Expr e, long v) b)
    {
        yield return (new BinaryExpr('+', a.e, b.e), a.v + b.v);
        yield return (new BinaryExpr('*', a.e, b.e), a.v * b.v);
        if (a.v > b.v) yield return (new BinaryExpr('-', a.e, b.e), a.v - b.v);
        if (b.v > a.v) yield return (new BinaryExpr('-', b.e, a.e), b.v - a.v);
        if (b.v > 1 && a.v % b.v == 0) yield return (new BinaryExpr('/', a.e, b.e), a.v / b.v);
        if (a.v > 1 && b.v % a.v == 0) yield return (new BinaryExpr('/', b.e, a.e), b.v / a.v);
    }

    static SyntheticProblem Make(long[] numbers, Expr equation, int template)
    {
        long target = Value(equation);
        var inv = CultureInfo.InvariantCulture;
        string list = string.Join(", ", numbers), spaced = string.Join(" ", numbers);
        string words = numbers.Length == 1 ? list : string.Join(", ", numbers[..^1]) + " and " + numbers[^1];
        var prompt = string.Format(inv, Templates[template], list, target, words, spaced);
        string answer = Equation.Render(equation);
        return new SyntheticProblem(prompt, Working(equation, numbers, target), answer, CheckerId)
        {
            Parameters = new Dictionary<string, string>
            {
                ["numbers"] = list.Replace(" ", ""), ["target"] = Inv(target), ["equation"] = answer, ["template"] = Inv(template),
            },
        };
    }

    static long Value(Expr e) => Equation.Evaluate(e) is { Den.IsOne: true } r ? (long)r.Num
        : throw new InvalidOperationException("countdown expression is not an integer");

    /// <summary>Steps in evaluation order, then the whole equation and a check that every number was used.</summary>
    static string Working(Expr equation, long[] numbers, long target)
    {
        var s = new StringBuilder($"We need {target} from {string.Join(", ", numbers)}, each used once. ");
        int step = 0;
        void Walk(Expr e)
        {
            if (e is not BinaryExpr b) return;
            Walk(b.Left); Walk(b.Right);
            s.Append($"Step {++step}: {Value(b.Left)} {b.Op} {Value(b.Right)} = {Value(b)}. ");
        }
        Walk(equation);
        s.Append($"So {Equation.Render(equation)} = {target}, using {string.Join(", ", Equation.Numbers(equation))} once each.");
        return s.ToString();
    }

    public static long[] ParseNumbers(string list) =>
        list.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Select(x => long.Parse(x, CultureInfo.InvariantCulture)).ToArray();

    /// <summary>Re-samples numbers (new target), swaps operands of + and *, reorders the listed numbers, rephrases, adds distractors.</summary>
    public SyntheticProblem Augment(SyntheticProblem p, Random rng)
    {
        var numbers = ParseNumbers(p.Param("numbers"));
        if (!Equation.TryParse(p.Param("equation"), out var equation, out var err))
            throw new SeekSharpException($"countdown problem has a bad equation: {err}");
        int template = int.Parse(p.Param("template"), CultureInfo.InvariantCulture);
        var plan = AugmentPlan.Draw(rng);
        if (plan.Resample)
        {
            numbers = numbers.Select(_ => (long)rng.Next(1, 100)).ToArray();
            equation = Build(numbers, rng);
        }
        if (plan.Swap)
        {
            equation = Swap(equation!, rng);
            numbers = numbers.OrderBy(_ => rng.Next()).ToArray();
        }
        if (plan.Rephrase) template = OtherTemplate(rng, template, Templates.Length);
        return Finish(p, Make(numbers, equation!, template), plan, rng);
    }

    /// <summary>Swaps the operands of each commuting node (+, *) with probability 1/2; the value cannot change.</summary>
    static Expr Swap(Expr e, Random rng) => e switch
    {
        BinaryExpr { Op: '+' or '*' } b when rng.Next(2) == 0 => new BinaryExpr(b.Op, Swap(b.Right, rng), Swap(b.Left, rng)),
        BinaryExpr b => new BinaryExpr(b.Op, Swap(b.Left, rng), Swap(b.Right, rng)),
        _ => e,
    };

    /// <summary>An equation found by exhaustive search over the generator's rules (from numbers and target only);
    /// any valid equation is a correct answer, so this may differ from the stored one. Throws if none exists.</summary>
    public string Solve(SyntheticProblem p)
    {
        var numbers = ParseNumbers(p.Param("numbers"));
        long target = long.Parse(p.Param("target"), CultureInfo.InvariantCulture);
        var found = Search(numbers.Select(n => ((Expr)new NumberExpr(n), n)).ToList(), target);
        return found is null ? throw new SeekSharpException($"countdown: no equation reaches {target}") : Equation.Render(found);
    }

    static Expr? Search(List<(Expr e, long v)> items, long target)
    {
        if (items.Count == 1) return items[0].v == target ? items[0].e : null;
        for (int i = 0; i < items.Count; i++)
            for (int j = i + 1; j < items.Count; j++)
            {
                var rest = items.Where((_, k) => k != i && k != j).ToList();
                foreach (var m in Moves(items[i], items[j]))
                {
                    rest.Add(m);
                    if (Search(rest, target) is { } e) return e;
                    rest.RemoveAt(rest.Count - 1);
                }
            }
        return null;
    }
}
