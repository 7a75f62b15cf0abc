using System.Text;

namespace SeekSharp.Data.Synthetic;

// Multi-digit arithmetic with column-by-column worked solutions, the way a person does it on paper:
// a small model can learn the procedure from the working rather than memorize sums. Operands are drawn
// so that answers are always exact integers; the answer is computed, never copied from a template.

/// <summary>Generates addition, subtraction and multiplication problems with worked solutions.</summary>
public static class ArithmeticTask
{
    public const string CheckerId = "arithmetic";

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

    public static SyntheticProblem Add(long a, long b)
    {
        var s = new StringBuilder();
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
        return new SyntheticProblem($"What is {a} + {b}?", s.ToString(), (a + b).ToString(), CheckerId);
    }

    public static SyntheticProblem Subtract(long a, long b)
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
        return new SyntheticProblem($"What is {a} - {b}?", s.ToString(), (a - b).ToString(), CheckerId);
    }

    public static SyntheticProblem Multiply(long a, long m)
    {
        var s = new StringBuilder();
        long x = a, carry = 0;
        do
        {
            long d = x % 10, p = d * m + carry;
            s.Append(carry > 0 ? $"{d} x {m} + {carry} = {p}" : $"{d} x {m} = {p}");
            s.Append(p >= 10 && (x / 10 > 0) ? $", write {p % 10} carry {p / 10}. " : ". ");
            carry = x / 10 > 0 ? p / 10 : 0; x /= 10;
        } while (x > 0);
        s.Append($"So {a} x {m} = {a * m}.");
        return new SyntheticProblem($"What is {a} x {m}?", s.ToString(), (a * m).ToString(), CheckerId);
    }
}
