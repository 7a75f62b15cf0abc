using SeekSharp.Data.Curation;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace SeekSharp.Recipes;

// The join: one document per (ticker, news date), made of that day's headlines, the latest earnings
// report published on or before the date, and the five closes before the date. Nothing in a document
// comes from the date itself or later except the news, so a model cannot read the label off the text.
// Labels: sentiment = sum of word valences in the headlines (positive > 0 > negative); risk from the
// FOLLOWING five trading days (the news date and the four after it), relative to the last close before
// the news: "high" when |close[t+4] / base - 1| > 5% or the lowest low in the window is more than 5%
// under base (a drawdown), else "low". Dates without five following trading days get no document.

/// <summary>A joined, labeled document.</summary>
public sealed record FinanceDocument(string Ticker, DateOnly Date, string Text, int SentimentScore, string Sentiment,
    string Risk, double Return5d, double Drawdown5d, string Reasoning);

/// <summary>The recipe's headline vocabulary with AFINN-scale valences, used when no lexicon file is given.</summary>
public static class FinanceLexicon
{
    public static SentimentLexicon BuiltIn { get; } = SentimentLexicon.FromEntries(new Dictionary<string, double>
    {
        ["strong"] = 2, ["growth"] = 2, ["outstanding"] = 5, ["wins"] = 4, ["confident"] = 2, ["boosts"] = 1, ["approval"] = 2,
        ["successful"] = 3, ["beats"] = 2, ["jump"] = 1, ["gain"] = 2, ["optimistic"] = 2,
        ["recall"] = -2, ["worried"] = -3, ["weakness"] = -2, ["fraud"] = -4, ["lawsuit"] = -2, ["warning"] = -3, ["problems"] = -2,
        ["shortage"] = -2, ["strike"] = -1, ["uncertain"] = -1, ["bad"] = -3, ["misses"] = -2, ["disappointing"] = -2, ["loss"] = -3,
    });
}

internal static class FinanceJoin
{
    public const double Threshold = 0.05;
    public const int Window = 5;

    static string Pct(double v) => v.ToString("+0.0%;-0.0%;0.0%", CultureInfo.InvariantCulture);

    public static List<FinanceDocument> Join(List<PriceBar> prices, List<EarningsReport> earnings, List<NewsItem> news,
        SentimentLexicon lexicon, out int unlabeled)
    {
        var bars = prices.GroupBy(p => p.Ticker).ToDictionary(g => g.Key, g => g.OrderBy(p => p.Date).ToList());
        var reports = earnings.GroupBy(e => e.Ticker).ToDictionary(g => g.Key, g => g.OrderBy(e => e.ReportDate).ToList());
        var docs = new List<FinanceDocument>();
        unlabeled = 0;
        foreach (var day in news.GroupBy(n => (n.Ticker, n.Date)).OrderBy(g => g.Key.Date).ThenBy(g => g.Key.Ticker, StringComparer.Ordinal))
        {
            var (ticker, date) = day.Key;
            if (!bars.TryGetValue(ticker, out var series)) { unlabeled++; continue; }
            int t = series.FindIndex(b => b.Date >= date);
            // Needs a close before the news and five trading days from the news date on.
            if (t < 1 || t + Window > series.Count) { unlabeled++; continue; }
            double baseClose = (double)series[t - 1].Close;
            var window = series.GetRange(t, Window);
            double ret = (double)window[^1].Close / baseClose - 1, drawdown = (double)window.Min(b => b.Low) / baseClose - 1;
            string risk = Math.Abs(ret) > Threshold || drawdown < -Threshold ? "high" : "low";

            var headlines = day.Select(n => n.Headline).ToList();
            var matches = lexicon.Matches(string.Join(" ", headlines));
            var score = (int)Math.Round(matches.Sum(m => m.Score));
            var hits = matches.Select(m => m.Phrase).ToList();
            string sentiment = score > 0 ? "positive" : score < 0 ? "negative" : "neutral";
            var recent = series.GetRange(Math.Max(0, t - Window), Math.Min(Window, t));
            var latest = reports.GetValueOrDefault(ticker)?.LastOrDefault(e => e.ReportDate <= date);

            var s = new StringBuilder();
            s.Append($"Ticker: {ticker}{(latest is null ? "" : $" ({latest.Company})")}\nDate: {date:yyyy-MM-dd}\n");
            foreach (var h in headlines) s.Append($"News: {h}\n");
            if (latest is not null)
                s.Append($"Latest earnings (quarter ended {latest.QuarterEnd:yyyy-MM-dd}, reported {latest.ReportDate:yyyy-MM-dd}): revenue ${latest.Revenue:0.0}M, "
                    + $"net income ${latest.NetIncome:0.0}M, EPS ${latest.Eps:0.00} vs estimate ${latest.EpsEstimate:0.00}.\n");
            s.Append("Recent closes: ").Append(string.Join(", ", recent.Select(b => $"{b.Date:yyyy-MM-dd} {b.Close:0.00}"))).Append('\n');
            double trailing = (double)recent[^1].Close / (double)recent[0].Close - 1;
            double maxDaily = recent.Zip(recent.Skip(1), (a, b) => Math.Abs((double)b.Close / (double)a.Close - 1)).DefaultIfEmpty(0).Max();

            string reasoning = Reason(sentiment, score, hits, trailing, maxDaily, recent.Count, latest, risk);
            docs.Add(new FinanceDocument(ticker, date, s.ToString(), score, sentiment, risk, ret, drawdown, reasoning));
        }
        return docs;
    }

    /// <summary>Brief reasoning from what the document shows (news, earnings, recent prices), ending in the label.</summary>
    static string Reason(string sentiment, int score, List<string> hits, double trailing, double maxDaily, int n, EarningsReport? latest, string risk)
    {
        var r = new StringBuilder($"The news is {sentiment} (sentiment score {score}");
        r.Append(hits.Count > 0 ? $": {string.Join(", ", hits.Distinct())}). " : "). ");
        r.Append($"Over the last {n} closes the stock moved {Pct(trailing)}, with the largest daily move {Pct(maxDaily)[1..]}. ");
        if (latest is not null)
        {
            double surprise = latest.EpsEstimate == 0 ? 0 : (double)((latest.Eps - latest.EpsEstimate) / Math.Abs(latest.EpsEstimate));
            r.Append($"Latest EPS ${latest.Eps:0.00} vs ${latest.EpsEstimate:0.00} expected ({Pct(surprise)} surprise). ");
        }
        bool signals = sentiment != "neutral" || maxDaily > 0.03;
        r.Append(risk == "high"
            ? signals ? "These signals point to a large price move next week, so the risk is high." : "Despite calm signals, a move of more than 5% next week is likely, so the risk is high."
            : signals ? "Even so, a move of more than 5% next week is unlikely, so the risk is low." : "Nothing points to a move of more than 5% next week, so the risk is low.");
        return r.ToString();
    }
}
