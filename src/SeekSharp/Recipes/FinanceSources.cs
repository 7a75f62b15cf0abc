using System.Globalization;
using System.Text;
using System.Text.Json;
using SeekSharp.IO;

namespace SeekSharp.Recipes;

// The three sources of the finance recipe, generated about the same fictional companies and trading
// days so that joining them is meaningful: prices (a random walk per ticker with a few shocks and with
// earnings-day jumps proportional to the EPS surprise), quarterly earnings (revenue and net income in
// $ millions, EPS and the analysts' estimate), and dated news whose wording follows the shocks and
// surprises (positive words on up-shocks and beats, negative on down-shocks and misses, neutral
// otherwise). They are written in three different formats, as real sources would be, and read back
// by the join from disk, so the join works on any files of the same shape.

/// <summary>One daily bar of prices.csv.</summary>
public sealed record PriceBar(DateOnly Date, string Ticker, decimal Open, decimal High, decimal Low, decimal Close, long Volume);

/// <summary>One quarterly report of earnings.json; Revenue and NetIncome in $ millions.</summary>
public sealed record EarningsReport(string Ticker, string Company, DateOnly QuarterEnd, DateOnly ReportDate,
    decimal Revenue, decimal NetIncome, decimal Eps, decimal EpsEstimate);

/// <summary>One line of news.jsonl.</summary>
public sealed record NewsItem(DateOnly Date, string Ticker, string Headline);

internal static class FinanceSources
{
    static readonly (string Ticker, string Name)[] Names =
    [
        ("NWF", "Northwind Foods"), ("CTSO", "Contoso Systems"), ("FBKM", "Fabrikam Motors"), ("TSPA", "Tailspin Air"),
        ("LTWR", "Litware Labs"), ("ADTM", "Adatum Energy"), ("PRSW", "Proseware Health"), ("WDGR", "Woodgrove Retail"),
        ("BLYD", "Blue Yonder Shipping"), ("FRTH", "Fourth Coffee"), ("HMGD", "Humongous Insurance"), ("WWIM", "Wide World Importers"),
    ];

    static readonly string[] UpShock =
    [
        "{0} shares jump on strong demand and an outstanding product launch.",
        "{0} wins a major contract; a confident outlook boosts growth plans.",
        "Regulators grant approval to the new {0} platform, a successful milestone.",
    ];
    static readonly string[] DownShock =
    [
        "{0} hit by a product recall; analysts worried about weakness in orders.",
        "{0} faces a fraud lawsuit, and a management warning adds to the problems.",
        "A supply shortage and a strike disrupt {0}; the outlook is uncertain and bad for margins.",
    ];
    static readonly string[] Routine =
    [
        "{0} will present at an industry conference next month.",
        "{0} names a new chief financial officer.",
        "{0} opens a regional office.",
        "{0} schedules its annual shareholder meeting.",
    ];

    public static List<(string Ticker, string Name)> Companies(int count) =>
        Enumerable.Range(0, count).Select(i => i < Names.Length ? Names[i]
            : ($"{Names[i % Names.Length].Ticker[..3]}{i / Names.Length}", $"{Names[i % Names.Length].Name} {i / Names.Length}")).ToList();

    public static List<DateOnly> TradingDays(DateOnly start, int count)
    {
        var days = new List<DateOnly>(count);
        for (var d = start; days.Count < count; d = d.AddDays(1))
            if (d.DayOfWeek is not (DayOfWeek.Saturday or DayOfWeek.Sunday)) days.Add(d);
        return days;
    }

    static double Normal(Random rng) => Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
    static decimal Money(double v) => Math.Round((decimal)v, 2, MidpointRounding.AwayFromZero);

    /// <summary>Generates all three sources; deterministic for <paramref name="rng"/>.</summary>
    public static (List<PriceBar> Prices, List<EarningsReport> Earnings, List<NewsItem> News) Generate(Random rng, int companies, int days)
    {
        var dates = TradingDays(new DateOnly(2024, 1, 2), days);
        var prices = new List<PriceBar>(); var earnings = new List<EarningsReport>(); var news = new List<NewsItem>();
        foreach (var (ticker, name) in Companies(companies))
        {
            // Quarterly reports from the quarter before the first day, so every date has a "latest" one.
            var move = new double[days];
            double revenue = 200 + rng.NextDouble() * 4800, margin = 0.05 + rng.NextDouble() * 0.15, shares = 50 + rng.Next(450);
            for (var qEnd = new DateOnly(2023, 9, 30); ; qEnd = qEnd.AddDays(1).AddMonths(3).AddDays(-1))
            {
                var report = qEnd.AddDays(20 + rng.Next(16));
                while (report.DayOfWeek is DayOfWeek.Saturday or DayOfWeek.Sunday) report = report.AddDays(1);
                if (report > dates[^1]) break;
                revenue *= 1 + Normal(rng) * 0.05; margin = Math.Clamp(margin + Normal(rng) * 0.02, -0.05, 0.3);
                decimal rev = Math.Round((decimal)revenue, 1), ni = Math.Round((decimal)(revenue * margin), 1);
                decimal eps = Math.Round(ni / (decimal)shares, 2), surprise = (decimal)(Normal(rng) * 0.07);
                decimal estimate = Math.Round(eps / (1 + surprise), 2);
                earnings.Add(new EarningsReport(ticker, name, qEnd, report, rev, ni, eps, estimate));
                int t = dates.IndexOf(report);
                if (t < 0) continue;
                // The market reacts to the surprise on the report day.
                double s = estimate == 0 ? 0 : (double)((eps - estimate) / Math.Abs(estimate));
                move[t] += Math.Clamp(s, -0.2, 0.2) * 0.8;
                string headline = Math.Abs(s) < 0.02 ? $"{name} reports EPS of ${eps:0.00}, in line with the ${estimate:0.00} estimate."
                    : s > 0 ? $"{name} beats estimates: EPS ${eps:0.00} vs ${estimate:0.00} expected, on strong growth."
                    : $"{name} misses estimates: EPS ${eps:0.00} vs ${estimate:0.00} expected, disappointing results.";
                news.Add(new NewsItem(report, ticker, headline));
            }
            int shocks = 2 + rng.Next(2);
            for (int k = 0; k < shocks && days > 12; k++)
            {
                int t = 6 + rng.Next(days - 12);
                bool up = rng.Next(2) == 0;
                move[t] += (up ? 1 : -1) * (0.07 + rng.NextDouble() * 0.05);
                var pool = up ? UpShock : DownShock;
                news.Add(new NewsItem(dates[t], ticker, string.Format(CultureInfo.InvariantCulture, pool[rng.Next(pool.Length)], name)));
            }
            double vol = 0.006 + rng.NextDouble() * 0.006, close = 20 + rng.NextDouble() * 280, baseVolume = 2e5 + rng.Next(3_000_000);
            for (int t = 0; t < days; t++)
            {
                if (move[t] == 0 && rng.NextDouble() < 0.06)
                    news.Add(new NewsItem(dates[t], ticker, string.Format(CultureInfo.InvariantCulture, Routine[rng.Next(Routine.Length)], name)));
                double r = Normal(rng) * vol + move[t];
                double open = close * (1 + Normal(rng) * vol / 4 + move[t] * 0.7), next = Math.Max(1, close * (1 + r));
                double high = Math.Max(open, next) * (1 + Math.Abs(Normal(rng)) * vol / 2), low = Math.Min(open, next) * (1 - Math.Abs(Normal(rng)) * vol / 2);
                long volume = (long)(baseVolume * (1 + 8 * Math.Abs(r)) * (0.7 + 0.6 * rng.NextDouble()));
                prices.Add(new PriceBar(dates[t], ticker, Money(open), Money(high), Money(low), Money(next), volume));
                close = (double)Money(next);
            }
        }
        news.Sort((a, b) => a.Date != b.Date ? a.Date.CompareTo(b.Date) : string.CompareOrdinal(a.Ticker, b.Ticker));
        return (prices, earnings, news);
    }

    const string Iso = "yyyy-MM-dd";
    static string D(DateOnly d) => d.ToString(Iso, CultureInfo.InvariantCulture);
    static string M(decimal v) => v.ToString(CultureInfo.InvariantCulture);

    public static void Write(string dir, List<PriceBar> prices, List<EarningsReport> earnings, List<NewsItem> news)
    {
        var csv = new StringBuilder("date,ticker,open,high,low,close,volume\n");
        foreach (var p in prices) csv.Append($"{D(p.Date)},{p.Ticker},{M(p.Open)},{M(p.High)},{M(p.Low)},{M(p.Close)},{p.Volume}\n");
        AtomicFile.WriteAllText(Path.Combine(dir, "prices.csv"), csv.ToString());
        AtomicFile.WriteAllText(Path.Combine(dir, "earnings.json"), JsonSerializer.Serialize(earnings.Select(e => new
        {
            ticker = e.Ticker, company = e.Company, quarter_end = D(e.QuarterEnd), report_date = D(e.ReportDate),
            revenue_musd = e.Revenue, net_income_musd = e.NetIncome, eps = e.Eps, eps_estimate = e.EpsEstimate,
        }), new JsonSerializerOptions { WriteIndented = true }));
        AtomicFile.WriteAllText(Path.Combine(dir, "news.jsonl"),
            string.Concat(news.Select(n => JsonSerializer.Serialize(new { date = D(n.Date), ticker = n.Ticker, headline = n.Headline }) + "\n")));
    }

    static DateOnly Date(string s, string where) => DateOnly.TryParseExact(s, Iso, CultureInfo.InvariantCulture, DateTimeStyles.None, out var d)
        ? d : throw new SeekSharpException($"{where}: bad date '{s}', expected {Iso}");

    public static List<PriceBar> ReadPrices(string path)
    {
        var rows = new List<PriceBar>();
        int n = 0;
        foreach (var line in File.ReadLines(path))
        {
            if (n++ == 0 || line.Length == 0) continue;
            var f = line.Split(',');
            string where = $"{path}:{n}";
            if (f.Length != 7) throw new SeekSharpException($"{where}: expected 7 columns, got {f.Length}");
            try
            {
                decimal P(int i) => decimal.Parse(f[i], CultureInfo.InvariantCulture);
                rows.Add(new PriceBar(Date(f[0], where), f[1], P(2), P(3), P(4), P(5), long.Parse(f[6], CultureInfo.InvariantCulture)));
            }
            catch (FormatException e) { throw new SeekSharpException($"{where}: {e.Message}", e); }
        }
        return rows;
    }

    public static List<EarningsReport> ReadEarnings(string path)
    {
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(path));
            return doc.RootElement.EnumerateArray().Select((e, i) => new EarningsReport(
                e.GetProperty("ticker").GetString()!, e.GetProperty("company").GetString()!,
                Date(e.GetProperty("quarter_end").GetString()!, $"{path}[{i}]"), Date(e.GetProperty("report_date").GetString()!, $"{path}[{i}]"),
                e.GetProperty("revenue_musd").GetDecimal(), e.GetProperty("net_income_musd").GetDecimal(),
                e.GetProperty("eps").GetDecimal(), e.GetProperty("eps_estimate").GetDecimal())).ToList();
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new SeekSharpException($"{path}: {e.Message}", e);
        }
    }

    public static List<NewsItem> ReadNews(string path)
    {
        var items = new List<NewsItem>();
        int n = 0;
        foreach (var line in File.ReadLines(path))
        {
            n++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            try
            {
                using var doc = JsonDocument.Parse(line);
                var r = doc.RootElement;
                items.Add(new NewsItem(Date(r.GetProperty("date").GetString()!, $"{path}:{n}"), r.GetProperty("ticker").GetString()!, r.GetProperty("headline").GetString()!));
            }
            catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
            {
                throw new SeekSharpException($"{path}:{n}: {e.Message}", e);
            }
        }
        return items;
    }
}
