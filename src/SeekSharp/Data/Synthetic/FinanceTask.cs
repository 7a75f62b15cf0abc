using System.Globalization;
using static SeekSharp.Data.Synthetic.Augmentation;

namespace SeekSharp.Data.Synthetic;

// Finance word problems from generated earnings figures: revenue growth between two quarters, gross and
// net margin, P/E from price and EPS, simple interest, compound interest (annual or monthly). All
// arithmetic is System.Decimal (28 significant digits, base 10), so $0.10 is exact and rounding to a
// cent never flips on binary noise; rounding is half away from zero, the rule people learn at school.
// Each prompt states its rounding rule, stored as parameter "rounding": percent_1dp, 2dp or cents.
// A prompt is fact sentences plus a question; swapping reverses the facts (the formula does not care
// in which order the figures were stated). Parameters: kind, company, the figures, template, swapped.

/// <summary>Generates finance word problems with formula-and-steps solutions.</summary>
public sealed class FinanceTask : ISyntheticTask
{
    public const string CheckerId = "finance";
    public static readonly FinanceTask Instance = new();
    public string Id => CheckerId;

    static readonly string[] Companies =
        ["Northwind Foods", "Contoso Systems", "Fabrikam Motors", "Tailspin Air", "Litware Labs", "Adatum Energy", "Proseware Health", "Woodgrove Retail"];
    static readonly string[] Kinds = ["growth", "gross_margin", "net_margin", "pe", "simple_interest", "compound_interest"];

    // Facts..., question. Placeholders are parameter names; money is formatted by Show.
    static readonly Dictionary<string, string[][]> Templates = new()
    {
        ["growth"] =
        [
            ["{company} reported revenue of {rev1} in {q1}.", "{company} reported revenue of {rev2} in {q2}.", "What was the revenue growth rate from {q1} to {q2}?"],
            ["Revenue at {company} was {rev1} for {q1}.", "Revenue at {company} was {rev2} for {q2}.", "By what percentage did revenue change from {q1} to {q2}?"],
            ["{q1} revenue for {company}: {rev1}.", "{q2} revenue for {company}: {rev2}.", "Compute the quarter-over-quarter revenue growth rate."],
        ],
        ["gross_margin"] =
        [
            ["{company} had revenue of {revenue} last quarter.", "The cost of goods sold at {company} was {cogs}.", "What was the gross margin of {company}?"],
            ["Quarterly revenue at {company}: {revenue}.", "Cost of goods sold at {company}: {cogs}.", "Compute the gross margin."],
        ],
        ["net_margin"] =
        [
            ["{company} earned net income of {net_income} last quarter.", "Revenue at {company} was {revenue} in the same quarter.", "What was the net profit margin of {company}?"],
            ["Net income at {company}: {net_income}.", "Revenue at {company}: {revenue}.", "Compute the net margin."],
        ],
        ["pe"] =
        [
            ["{company} shares trade at {price}.", "Earnings per share of {company} over the last year were {eps}.", "What is the price-to-earnings (P/E) ratio?"],
            ["The stock of {company} closed at {price}.", "The trailing EPS of {company} is {eps}.", "Compute the P/E ratio."],
        ],
        ["simple_interest"] =
        [
            ["{company} deposits {principal} in an account paying {rate}% simple interest per year.", "The deposit stays in the account for {years} years.", "How much interest does it earn?"],
            ["A loan of {principal} is taken for {years} years.", "The loan charges simple interest at {rate}% per year.", "What is the total interest on the loan?"],
        ],
        ["compound_interest"] =
        [
            ["{company} invests {principal} at {rate}% per year, compounded {compounding}.", "The investment is held for {years} years.", "What is the balance at the end?"],
            ["A deposit of {principal} earns {rate}% annual interest compounded {compounding}.", "No withdrawals are made from the deposit for {years} years.", "What will the account be worth?"],
        ],
    };

    static readonly Dictionary<string, string> RoundingText = new()
    {
        ["percent_1dp"] = "Round to 1 decimal place and give the answer as a percent.",
        ["2dp"] = "Round to 2 decimal places.",
        ["cents"] = "Give the answer to the nearest cent.",
    };

    static readonly Dictionary<string, string> RoundedText = new()
    {
        ["percent_1dp"] = "Rounded to 1 decimal place", ["2dp"] = "Rounded to 2 decimal places", ["cents"] = "To the nearest cent",
    };

    public SyntheticProblem Generate(Random rng)
    {
        string kind = Kinds[rng.Next(Kinds.Length)];
        var par = Sample(kind, rng);
        par["company"] = Companies[rng.Next(Companies.Length)];
        return Make(par, rng.Next(Templates[kind].Length), swapped: false);
    }

    static decimal Tenths(Random rng, int lo, int hi) => rng.Next(lo, hi) / 10m;
    static decimal Cents(Random rng, int lo, int hi) => rng.Next(lo, hi) / 100m;

    /// <summary>Fresh figures for <paramref name="kind"/>; no company (kept across re-sampling).</summary>
    static Dictionary<string, string> Sample(string kind, Random rng)
    {
        var p = new Dictionary<string, string> { ["kind"] = kind };
        switch (kind)
        {
            case "growth":
                int year = rng.Next(2019, 2026), q = rng.Next(1, 5);
                decimal rev1 = Tenths(rng, 500, 50_000);
                p["q1"] = $"Q{q} {year}"; p["q2"] = q == 4 ? $"Q1 {year + 1}" : $"Q{q + 1} {year}";
                p["rev1"] = Inv(rev1); p["rev2"] = Inv(Math.Round(rev1 * (1 + rng.Next(-200, 301) / 1000m), 1));
                p["rounding"] = "percent_1dp"; break;
            case "gross_margin" or "net_margin":
                decimal revenue = Tenths(rng, 500, 50_000);
                p["revenue"] = Inv(revenue);
                if (kind == "gross_margin") p["cogs"] = Inv(Math.Round(revenue * rng.Next(300, 900) / 1000m, 1));
                else p["net_income"] = Inv(Math.Round(revenue * rng.Next(-100, 250) / 1000m, 1));
                p["rounding"] = "percent_1dp"; break;
            case "pe":
                p["price"] = Inv(Cents(rng, 500, 50_000)); p["eps"] = Inv(Cents(rng, 10, 1_500));
                p["rounding"] = "2dp"; break;
            default:
                p["principal"] = Inv(rng.Next(10, 2_000) * 50m); p["rate"] = Inv(rng.Next(2, 49) * 0.25m);
                p["years"] = Inv(rng.Next(1, kind == "simple_interest" ? 11 : 31));
                if (kind == "compound_interest") p["periods_per_year"] = rng.Next(2) == 0 ? "1" : "12";
                p["rounding"] = "cents"; break;
        }
        return p;
    }

    /// <summary>The exact value before the rounding rule, with the worked steps.</summary>
    static (decimal Value, string Steps) Compute(IReadOnlyDictionary<string, string> p)
    {
        decimal D(string k) => decimal.Parse(p[k], CultureInfo.InvariantCulture);
        // Intermediate values are shown to 6 decimals; the exact value is what gets rounded.
        string S(decimal v) => v.ToString("0.######", CultureInfo.InvariantCulture);
        switch (p["kind"])
        {
            case "growth":
                decimal r1 = D("rev1"), r2 = D("rev2"), g = (r2 - r1) / r1 * 100;
                return (g, $"Growth rate = (new revenue - old revenue) / old revenue x 100 = ({r2} - {r1}) / {r1} x 100 = {r2 - r1} / {r1} x 100 = {S(g)}%.");
            case "gross_margin":
                decimal rev = D("revenue"), cogs = D("cogs"), gm = (rev - cogs) / rev * 100;
                return (gm, $"Gross margin = (revenue - cost of goods sold) / revenue x 100 = ({rev} - {cogs}) / {rev} x 100 = {rev - cogs} / {rev} x 100 = {S(gm)}%.");
            case "net_margin":
                decimal ni = D("net_income"), rv = D("revenue"), nm = ni / rv * 100;
                return (nm, $"Net margin = net income / revenue x 100 = {ni} / {rv} x 100 = {S(nm)}%.");
            case "pe":
                decimal price = D("price"), eps = D("eps"), pe = price / eps;
                return (pe, $"P/E = share price / earnings per share = {price} / {eps} = {S(pe)}.");
            case "simple_interest":
                decimal pr = D("principal"), rate = D("rate"), years = D("years"), si = pr * rate / 100 * years;
                return (si, $"Simple interest = principal x rate x years = {pr} x {rate / 100} x {years} = {S(si)}.");
            case "compound_interest":
                decimal P = D("principal"), R = D("rate") / 100, T = D("years"), n = D("periods_per_year");
                decimal growth = 1 + R / n, factor = 1;
                for (int i = 0; i < n * T; i++) factor *= growth;
                decimal a = P * factor;
                return (a, $"A = P x (1 + r/n)^(n x t) with P = {P}, r = {R}, n = {n}, t = {T}: A = {P} x (1 + {R}/{n})^{n * T} "
                    + $"= {P} x {S(growth)}^{n * T} = {P} x {S(factor)} = {S(a)}.");
            default: throw new SeekSharpException($"finance problem has unknown kind '{p["kind"]}'");
        }
    }

    /// <summary>Applies a rounding rule to a value and formats it as the canonical answer.</summary>
    public static string FormatAnswer(decimal value, string rounding) => rounding switch
    {
        "percent_1dp" => Round(value, rounding).ToString("0.0", CultureInfo.InvariantCulture) + "%",
        "2dp" => Round(value, rounding).ToString("0.00", CultureInfo.InvariantCulture),
        "cents" => (value < 0 ? "-$" : "$") + Math.Abs(Round(value, rounding)).ToString("#,##0.00", CultureInfo.InvariantCulture),
        _ => throw new SeekSharpException($"unknown rounding rule '{rounding}'"),
    };

    /// <summary>Half-away-from-zero rounding to the rule's decimals (1 for percent_1dp, 2 otherwise).</summary>
    public static decimal Round(decimal value, string rounding) =>
        Math.Round(value, rounding == "percent_1dp" ? 1 : 2, MidpointRounding.AwayFromZero);

    public string Solve(SyntheticProblem p) => FormatAnswer(Compute(p.Parameters).Value, p.Param("rounding"));

    static SyntheticProblem Make(Dictionary<string, string> par, int template, bool swapped)
    {
        par["template"] = Inv(template); par["swapped"] = swapped ? "true" : "false";
        var parts = Templates[par["kind"]][template];
        var facts = parts[..^1].Select(f => Fill(f, par)).ToList();
        if (swapped) facts.Reverse();
        string rounding = par["rounding"];
        string prompt = string.Join(" ", facts) + " " + Fill(parts[^1], par) + " " + RoundingText[rounding];
        var (value, steps) = Compute(par);
        string answer = FormatAnswer(value, rounding);
        string solution = $"{steps} {RoundedText[rounding]}: {answer}.";
        return new SyntheticProblem(prompt, solution, answer, CheckerId) { Parameters = par };
    }

    static string Fill(string template, Dictionary<string, string> par)
    {
        var s = template;
        foreach (var (k, v) in par) s = s.Replace("{" + k + "}", Show(k, v));
        return s.Replace("{compounding}", par.GetValueOrDefault("periods_per_year") == "12" ? "monthly" : "annually");
    }

    /// <summary>How a figure reads in a prompt: revenue in $ millions, prices with cents, principal with separators.</summary>
    static string Show(string key, string value)
    {
        decimal Dv() => decimal.Parse(value, CultureInfo.InvariantCulture);
        return key switch
        {
            "rev1" or "rev2" or "revenue" or "cogs" or "net_income" => (Dv() < 0 ? "-$" : "$") + Math.Abs(Dv()).ToString("#,##0.0", CultureInfo.InvariantCulture) + " million",
            "price" or "eps" => "$" + Dv().ToString("0.00", CultureInfo.InvariantCulture),
            "rate" => Dv().ToString("0.##", CultureInfo.InvariantCulture),
            "principal" => "$" + Dv().ToString("#,##0", CultureInfo.InvariantCulture),
            _ => value,
        };
    }

    /// <summary>Re-samples figures (same kind and company), reverses the fact order, rephrases, adds distractors.</summary>
    public SyntheticProblem Augment(SyntheticProblem p, Random rng)
    {
        var par = new Dictionary<string, string>(p.Parameters);
        string kind = p.Param("kind");
        int template = int.Parse(p.Param("template"), CultureInfo.InvariantCulture);
        bool swapped = p.Parameters.GetValueOrDefault("swapped") == "true";
        var plan = AugmentPlan.Draw(rng);
        if (plan.Resample) foreach (var (k, v) in Sample(kind, rng)) par[k] = v;
        if (plan.Swap) swapped = !swapped;
        if (plan.Rephrase) template = OtherTemplate(rng, template, Templates[kind].Length);
        return Finish(p, Make(par, template, swapped), plan, rng, financial: true);
    }
}
