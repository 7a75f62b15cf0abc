using System.Text;
using static SeekSharp.Data.Synthetic.Augmentation;

namespace SeekSharp.Data.Synthetic;

// Multi-digit arithmetic with column-by-column worked solutions, the way a person does it on paper:
// a small model can learn the procedure from the working rather than memorize sums. Operands are drawn
// so that answers are always exact integers; the answer is computed, never copied from a template.
// Parameters: op (+, -, x), a, b, template, swapped. Template 0 is the original "What is a + b?" so the
// quickstart corpus (which calls the static Generate) is unchanged; augmentation draws the others.

/// <summary>Generates addition, subtraction and multiplication problems with worked solutions.</summary>
public sealed class ArithmeticTask : ISyntheticTask
{
    public const string CheckerId = "arithmetic";
    public static readonly ArithmeticTask Instance = new();

    static readonly Dictionary<string, string[]> Templates = new()
    {
        ["+"] = ["What is {0} + {1}?", "Compute {0} + {1}.", "Calculate the sum of {0} and {1}.", "Add {0} and {1}. What do you get?"],
        ["-"] = ["What is {0} - {1}?", "Compute {0} - {1}.", "Subtract {1} from {0}.", "What is {0} minus {1}?"],
        ["x"] = ["What is {0} x {1}?", "Compute {0} x {1}.", "Multiply {0} by {1}.", "What is the product of {0} and {1}?"],
    };

    string ISyntheticTask.Id => CheckerId;
    SyntheticProblem ISyntheticTask.Generate(Random rng) => Generate(rng);
    SyntheticProblem ISyntheticTask.Augment(SyntheticProblem p, Random rng) => Augment(p, rng);
    string ISyntheticTask.Solve(SyntheticProblem p) => Solve(p);

    public static SyntheticProblem Generate(Random rng, int maxDigits = 3)
    {
        int op = rng.Next(3);
        long a = Number(rng, maxDigits), b = Number(rng, maxDigits);
        return op switch
        {
            0 => Add(a, b),
            1 => Subtract(Math.Max(a, b), Math.Min(a, b)),
            _ => Multiply(a, rng.Next(2, 10)),
        };
    }

    static long Number(Random rng, int maxDigits)
    {
        int digits = rng.Next(1, maxDigits + 1);
        long lo = digits == 1 ? 0 : (long)Math.Pow(10, digits - 1);
        return rng.NextInt64(lo, (long)Math.Pow(10, digits));
    }

    /// <summary>The answer recomputed from op, a and b.</summary>
    public static string Solve(SyntheticProblem p)
    {
        long a = Long(p, "a"), b = Long(p, "b");
        return p.Param("op") switch
        {
            "+" => Inv(a + b),
            "-" => Inv(a - b),
            "x" => Inv(a * b),
            var op => throw new SeekSharpException($"arithmetic problem has unknown op '{op}'"),
        };
    }

    /// <summary>Re-samples operands (same digit counts), swaps commuting operands, rephrases, adds distractors.</summary>
    public static SyntheticProblem Augment(SyntheticProblem p, Random rng)
    {
        string op = p.Param("op");
        long a = Long(p, "a"), b = Long(p, "b");
        int template = int.Parse(p.Parameters.GetValueOrDefault("template", "0"));
        bool swapped = p.Parameters.GetValueOrDefault("swapped") == "true";
        var plan = AugmentPlan.Draw(rng);
        if (plan.Resample)
        {
            int da = Inv(a).Length, db = Inv(b).Length;
            a = Number(rng, da, da); b = op == "x" ? rng.Next(2, 10) : Number(rng, db, db);
            if (op == "-" && a < b) (a, b) = (b, a);
        }
        if (plan.Swap && op != "-") swapped = !swapped;
        if (plan.Rephrase) template = OtherTemplate(rng, template, Templates[op].Length);
        var made = op switch
        {
            "+" => Add(a, b, template, swapped),
            "-" => Subtract(a, b, template),
            _ => Multiply(a, b, template, swapped),
        };
        return Finish(p, made, plan, rng);
    }

    static long Number(Random rng, int minDigits, int maxDigits)
    {
        int digits = rng.Next(minDigits, maxDigits + 1);
        long lo = digits == 1 ? 0 : (long)Math.Pow(10, digits - 1);
        return rng.NextInt64(lo, (long)Math.Pow(10, digits));
    }

    static SyntheticProblem Make(string op, long a, long b, int template, bool swapped, string solution, long answer)
    {
        var (x, y) = swapped ? (b, a) : (a, b);
        var prompt = string.Format(System.Globalization.CultureInfo.InvariantCulture, Templates[op][template], x, y);
        return new SyntheticProblem(prompt, solution, Inv(answer), CheckerId)
        {
            Parameters = new Dictionary<string, string>
            {
                ["op"] = op, ["a"] = Inv(a), ["b"] = Inv(b), ["template"] = Inv(template), ["swapped"] = swapped ? "true" : "false",
            },
        };
    }

    /// <summary>a + b; when <paramref name="swapped"/> the prompt reads b + a (addition commutes, the working is the same).</summary>
    public static SyntheticProblem Add(long a, long b, int template = 0, bool swapped = false)
    {
        var s = new StringBuilder();
        if (swapped) (a, b) = (b, a);
        long x = a, y = b, carry = 0;
        int col = 0;
        while (x > 0 || y > 0 || carry > 0)
        {
            long dx = x % 10, dy = y % 10, sum = dx + dy + carry;
            s.Append(carry > 0 ? $"{dx} + {dy} + {carry} = {sum}" : $"{dx} + {dy} = {sum}");
            s.Append(sum >= 10 ? $", write {sum % 10} carry 1. " : $", write {sum}. ");
            carry = sum / 10; x /= 10; y /= 10; col++;
        }
        if (col == 0) s.Append("0 + 0 = 0. ");
        s.Append($"So {a} + {b} = {a + b}.");
        if (swapped) (a, b) = (b, a);
        return Make("+", a, b, template, swapped, s.ToString(), a + b);
    }

    public static SyntheticProblem Subtract(long a, long b, int template = 0)
    {
        var s = new StringBuilder();
        long x = a, y = b, borrow = 0;
        while (y > 0 || borrow > 0)
        {
            long dx = x % 10 - borrow, dy = y % 10;
            if (dx < dy) { s.Append($"{dx + 10} - {dy} = {dx + 10 - dy}, borrow 1. "); borrow = 1; }
            else { s.Append($"{dx} - {dy} = {dx - dy}. "); borrow = 0; }
            x /= 10; y /= 10;
        }
        s.Append($"So {a} - {b} = {a - b}.");
        return Make("-", a, b, template, false, s.ToString(), a - b);
    }

    /// <summary>a x m with a single-digit multiplier m; when <paramref name="swapped"/> the prompt reads m x a and
    /// the working first turns it around (multiplication commutes) so the column method still applies.</summary>
    public static SyntheticProblem Multiply(long a, long m, int template = 0, bool swapped = false)
    {
        var s = new StringBuilder();
        if (swapped) s.Append($"{m} x {a} = {a} x {m} because multiplication commutes. ");
        long x = a, carry = 0;
        do
        {
            long d = x % 10, p = d * m + carry;
            s.Append(carry > 0 ? $"{d} x {m} + {carry} = {p}" : $"{d} x {m} = {p}");
            s.Append(p >= 10 && (x / 10 > 0) ? $", write {p % 10} carry {p / 10}. " : ". ");
            carry = x / 10 > 0 ? p / 10 : 0; x /= 10;
        } while (x > 0);
        s.Append($"So {a} x {m} = {a * m}.");
        return Make("x", a, m, template, swapped, s.ToString(), a * m);
    }
}
