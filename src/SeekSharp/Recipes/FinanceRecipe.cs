using SeekSharp.Data.Curation;
using System.Text.Json;
using SeekSharp.IO;

namespace SeekSharp.Recipes;

// `seek recipe finance --out DIR`: a multi-source data recipe in miniature. Three sources about the same
// fictional companies (prices.csv, earnings.json, news.jsonl) are generated, read back from disk and
// joined by ticker and date into labeled documents, then written as pretraining text (pretrain.jsonl),
// as chat SFT records whose assistant turn reasons briefly from the document and answers the risk
// label in R1's <think>/<answer> format (sft.jsonl), plus documents.jsonl with every label and
// summary.json. See recipes/finance/README.md for the sources, the join and the label rules.

/// <summary>What the finance recipe produced.</summary>
public sealed record FinanceRecipeReport(string OutDir, int Companies, int TradingDays, int PriceRows, int EarningsReports,
    int NewsItems, int Documents, int HighRisk, int LowRisk, int Unlabeled, IReadOnlyDictionary<string, int> Sentiment,
    IReadOnlyList<string> Files);

public static class FinanceRecipe
{
    /// <summary>The question asked of every document in sft.jsonl.</summary>
    public static string Question(string ticker) => $"What is the financial risk for {ticker} over the next week? Answer low or high.";

    /// <summary>Generates the sources, joins and labels them, and writes the outputs into <paramref name="outDir"/>.
    /// <paramref name="lexiconPath"/>: optional "word,valence" CSV (e.g. AFINN-111) replacing the built-in word list.</summary>
    public static FinanceRecipeReport Run(string outDir, int seed, int companies = 8, int days = 120, string? lexiconPath = null)
    {
        if (companies < 1) throw new SeekSharpException($"companies must be at least 1, got {companies}");
        if (days < 20) throw new SeekSharpException($"days must be at least 20 (five-day risk windows need room), got {days}");
        var lexicon = lexiconPath is null ? FinanceLexicon.BuiltIn : SentimentLexicon.Load(lexiconPath);
        Directory.CreateDirectory(outDir);

        var (prices, earnings, news) = FinanceSources.Generate(new Random(seed), companies, days);
        FinanceSources.Write(outDir, prices, earnings, news);

        // Join what is on disk, not the in-memory lists: the join is then the one real files would get.
        var docs = FinanceJoin.Join(
            FinanceSources.ReadPrices(Path.Combine(outDir, "prices.csv")),
            FinanceSources.ReadEarnings(Path.Combine(outDir, "earnings.json")),
            FinanceSources.ReadNews(Path.Combine(outDir, "news.jsonl")), lexicon, out int unlabeled);

        WriteJsonl(Path.Combine(outDir, "pretrain.jsonl"), docs.Select(d => (object)new { text = d.Text }));
        WriteJsonl(Path.Combine(outDir, "sft.jsonl"), docs.Select(d => (object)new
        {
            messages = new[]
            {
                new { role = "user", content = d.Text + "\n" + Question(d.Ticker) },
                new { role = "assistant", content = $"<think>{d.Reasoning}</think><answer>{d.Risk}</answer>" },
            },
        }));
        WriteJsonl(Path.Combine(outDir, "documents.jsonl"), docs.Select(d => (object)new
        {
            ticker = d.Ticker, date = d.Date.ToString("yyyy-MM-dd"), sentiment = d.Sentiment, sentiment_score = d.SentimentScore,
            risk = d.Risk, return_5d = Math.Round(d.Return5d, 5), drawdown_5d = Math.Round(d.Drawdown5d, 5), text = d.Text,
        }));

        string[] files = ["prices.csv", "earnings.json", "news.jsonl", "pretrain.jsonl", "sft.jsonl", "documents.jsonl", "summary.json"];
        var report = new FinanceRecipeReport(outDir, companies, days, prices.Count, earnings.Count, news.Count, docs.Count,
            docs.Count(d => d.Risk == "high"), docs.Count(d => d.Risk == "low"), unlabeled,
            docs.GroupBy(d => d.Sentiment).OrderBy(g => g.Key).ToDictionary(g => g.Key, g => g.Count()),
            files.Select(f => Path.Combine(outDir, f)).ToList());
        AtomicFile.WriteAllText(Path.Combine(outDir, "summary.json"), JsonSerializer.Serialize(new
        {
            seed, companies, trading_days = days, price_rows = report.PriceRows, earnings_reports = report.EarningsReports,
            news_items = report.NewsItems, documents = report.Documents, risk = new { high = report.HighRisk, low = report.LowRisk },
            unlabeled_news_days = unlabeled, sentiment = report.Sentiment, lexicon = lexiconPath ?? "built-in",
            risk_rule = "high if |close[t+4]/close[t-1]-1| > 5% or min(low[t..t+4])/close[t-1]-1 < -5%, news on day t",
        }, new JsonSerializerOptions { WriteIndented = true }));
        return report;
    }

    // Relaxed escaping keeps <think> and $ readable; the files are never embedded in HTML.
    static readonly JsonSerializerOptions Relaxed = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    static void WriteJsonl(string path, IEnumerable<object> rows) =>
        AtomicFile.WriteAllText(path, string.Concat(rows.Select(r => JsonSerializer.Serialize(r, Relaxed) + "\n")));
}
