using System.Numerics;
using System.Text;

namespace SeekSharp.Reasoning;

// Countdown equations as a tiny language: expr := term (('+'|'-') term)*, term := factor (('*'|'/')
// factor)*, factor := number | '(' expr ')'. Numbers are non-negative decimal integers without leading
// zeros (so "07" is not a disguised 7); there is no unary minus, no '=', no decimal point, and nothing
// else but spaces. Values are exact rationals over BigInteger, so 1/3*3 is exactly 1 and no float
// rounding can turn a wrong equation into a right one (TinyZero's Python eval uses floats).

/// <summary>An exact fraction with a positive denominator, always in lowest terms.</summary>
public readonly record struct Rational
{
    public BigInteger Num { get; }
    public BigInteger Den { get; }

    public Rational(BigInteger num, BigInteger den)
    {
        if (den.IsZero) throw new DivideByZeroException();
        if (den.Sign < 0) { num = -num; den = -den; }
        var g = BigInteger.GreatestCommonDivisor(num, den);
        if (!g.IsZero && !g.IsOne) { num /= g; den /= g; }
        Num = num; Den = den;
    }

    public static implicit operator Rational(long v) => new(v, 1);
    public static Rational operator +(Rational a, Rational b) => new(a.Num * b.Den + b.Num * a.Den, a.Den * b.Den);
    public static Rational operator -(Rational a, Rational b) => new(a.Num * b.Den - b.Num * a.Den, a.Den * b.Den);
    public static Rational operator *(Rational a, Rational b) => new(a.Num * b.Num, a.Den * b.Den);
    public static Rational operator /(Rational a, Rational b) => new(a.Num * b.Den, a.Den * b.Num);
    public bool IsZero => Num.IsZero;
    public override string ToString() => Den.IsOne ? Num.ToString() : $"{Num}/{Den}";
}

/// <summary>A node of an equation: a number or a binary operation.</summary>
public abstract record Expr;
public sealed record NumberExpr(long Value) : Expr;
public sealed record BinaryExpr(char Op, Expr Left, Expr Right) : Expr;

/// <summary>Parses, evaluates and prints countdown equations.</summary>
public static class Equation
{
    /// <summary>Parses <paramref name="text"/>; on failure <paramref name="error"/> says where and why.</summary>
    public static bool TryParse(string text, out Expr? expr, out string? error)
    {
        var p = new Parser(text);
        try
        {
            expr = p.Expr();
            p.SkipSpaces();
            if (p.Pos < text.Length) throw new FormatException($"unexpected '{text[p.Pos]}' at {p.Pos}");
            error = null;
            return true;
        }
        catch (FormatException e) { expr = null; error = e.Message; return false; }
    }

    /// <summary>The exact value, or null when some division divides by zero.</summary>
    public static Rational? Evaluate(Expr e)
    {
        switch (e)
        {
            case NumberExpr n: return n.Value;
            case BinaryExpr b:
                if (Evaluate(b.Left) is not { } l || Evaluate(b.Right) is not { } r) return null;
                return b.Op switch
                {
                    '+' => l + r, '-' => l - r, '*' => l * r,
                    _ => r.IsZero ? null : l / r,
                };
            default: throw new ArgumentException("unknown node", nameof(e));
        }
    }

    /// <summary>The numbers the equation uses, left to right.</summary>
    public static IEnumerable<long> Numbers(Expr e) => e switch
    {
        NumberExpr n => [n.Value],
        BinaryExpr b => Numbers(b.Left).Concat(Numbers(b.Right)),
        _ => [],
    };

    static int Precedence(char op) => op is '+' or '-' ? 1 : 2;

    /// <summary>Infix text with only the parentheses the grammar needs (left-associative operators).</summary>
    public static string Render(Expr e)
    {
        if (e is NumberExpr n) return n.Value.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var b = (BinaryExpr)e;
        int p = Precedence(b.Op);
        string l = Render(b.Left), r = Render(b.Right);
        if (b.Left is BinaryExpr bl && Precedence(bl.Op) < p) l = $"({l})";
        if (b.Right is BinaryExpr br && (Precedence(br.Op) < p || (Precedence(br.Op) == p && b.Op is '-' or '/'))) r = $"({r})";
        return $"{l} {b.Op} {r}";
    }

    sealed class Parser(string s)
    {
        public int Pos;

        public void SkipSpaces() { while (Pos < s.Length && s[Pos] == ' ') Pos++; }

        char Peek() { SkipSpaces(); return Pos < s.Length ? s[Pos] : '\0'; }

        public Expr Expr()
        {
            var e = Term();
            while (Peek() is '+' or '-') { char op = s[Pos++]; e = new BinaryExpr(op, e, Term()); }
            return e;
        }

        Expr Term()
        {
            var e = Factor();
            while (Peek() is '*' or '/') { char op = s[Pos++]; e = new BinaryExpr(op, e, Factor()); }
            return e;
        }

        Expr Factor()
        {
            char c = Peek();
            if (c == '(')
            {
                Pos++;
                var e = Expr();
                if (Peek() != ')') throw new FormatException($"expected ')' at {Pos}");
                Pos++;
                return e;
            }
            if (c is < '0' or > '9') throw new FormatException(Pos < s.Length ? $"unexpected '{s[Pos]}' at {Pos}" : "unexpected end");
            int start = Pos;
            var digits = new StringBuilder();
            while (Pos < s.Length && s[Pos] is >= '0' and <= '9') digits.Append(s[Pos++]);
            if (digits.Length > 1 && digits[0] == '0') throw new FormatException($"number with a leading zero at {start}");
            if (digits.Length > 12) throw new FormatException($"number too long at {start}");
            return new NumberExpr(long.Parse(digits.ToString(), System.Globalization.CultureInfo.InvariantCulture));
        }
    }
}
