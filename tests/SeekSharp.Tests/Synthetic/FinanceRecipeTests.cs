using System.Text.Json;
using SeekSharp.Recipes;

namespace SeekSharp.Tests.Synthetic;

public class FinanceRecipeTests
{
    [Fact]
    public void Small_run_joins_three_sources_into_labeled_documents_and_sft()
    {
        using var dir = new TempDir();
        var r = FinanceRecipe.Run(dir.Path, seed: 4, companies: 4, days: 60);

        // Three sources about the same tickers.
        var prices = File.ReadAllLines(dir.File("prices.csv"));
        Assert.Equal("date,ticker,open,high,low,close,volume", prices[0]);
        Assert.Equal(4 * 60, prices.Length - 1);
        var tickers = prices.Skip(1).Select(l => l.Split(',')[1]).ToHashSet();
        Assert.Equal(4, tickers.Count);
        using var earnings = JsonDocument.Parse(File.ReadAllText(dir.File("earnings.json")));
        Assert.All(earnings.RootElement.EnumerateArray(), e => Assert.Contains(e.GetProperty("ticker").GetString()!, tickers));
        var news = File.ReadAllLines(dir.File("news.jsonl")).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.All(news, n => Assert.Contains(n.GetProperty("ticker").GetString()!, tickers));
        Assert.Equal(r.NewsItems, news.Count);

        // Joined documents carry news, earnings and recent prices; both risk labels occur.
        var docs = File.ReadAllLines(dir.File("documents.jsonl")).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(r.Documents, docs.Count);
        Assert.True(r.HighRisk > 0 && r.LowRisk > 0, $"high {r.HighRisk}, low {r.LowRisk}");
        Assert.Equal(r.Documents, r.HighRisk + r.LowRisk);
        foreach (var d in docs)
        {
            var text = d.GetProperty("text").GetString()!;
            Assert.Contains("News: ", text);
            Assert.Contains("Latest earnings", text);
            Assert.Contains("Recent closes: ", text);
            double ret = d.GetProperty("return_5d").GetDouble(), dd = d.GetProperty("drawdown_5d").GetDouble();
            Assert.Equal(Math.Abs(ret) > 0.05 || dd < -0.05 ? "high" : "low", d.GetProperty("risk").GetString());
        }
        Assert.Equal(r.Documents, File.ReadAllLines(dir.File("pretrain.jsonl")).Length);

        // SFT: the assistant's answer is the document's label, after brief reasoning.
        var sft = File.ReadAllLines(dir.File("sft.jsonl")).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(docs.Count, sft.Count);
        for (int i = 0; i < sft.Count; i++)
        {
            var m = sft[i].GetProperty("messages");
            Assert.Equal("user", m[0].GetProperty("role").GetString());
            Assert.EndsWith(FinanceRecipe.Question(docs[i].GetProperty("ticker").GetString()!), m[0].GetProperty("content").GetString());
            var answer = m[1].GetProperty("content").GetString()!;
            Assert.StartsWith("<think>", answer);
            Assert.EndsWith($"</think><answer>{docs[i].GetProperty("risk").GetString()}</answer>", answer);
        }
        Assert.True(File.Exists(dir.File("summary.json")));
    }

    [Fact]
    public void Sentiment_follows_the_news_and_an_external_lexicon_can_replace_the_built_in_one()
    {
        using var dir = new TempDir();
        var lexicon = dir.File("lex.csv");
        File.WriteAllText(lexicon, "word,valence\nstrong,2\nfraud,-4\nwarning,-3\n");
        var r = FinanceRecipe.Run(dir.Path, seed: 2, companies: 3, days: 40, lexiconPath: lexicon);
        Assert.True(r.Documents > 0);
        var docs = File.ReadAllLines(dir.File("documents.jsonl")).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.All(docs.Where(d => d.GetProperty("text").GetString()!.Contains("fraud lawsuit")),
            d => Assert.Equal("negative", d.GetProperty("sentiment").GetString()));
        Assert.Equal(9, FinanceLexicon.BuiltIn.Score("Strong growth, outstanding!").Sum);
        Assert.True(FinanceLexicon.BuiltIn.Score("a fraud lawsuit").Sum < 0);
    }

    [Fact]
    public void Same_seed_same_files_and_bad_config_is_a_user_error()
    {
        using var a = new TempDir();
        using var b = new TempDir();
        FinanceRecipe.Run(a.Path, 9, 2, 30);
        FinanceRecipe.Run(b.Path, 9, 2, 30);
        foreach (var f in new[] { "prices.csv", "earnings.json", "news.jsonl", "sft.jsonl" })
            Assert.Equal(File.ReadAllText(a.File(f)), File.ReadAllText(b.File(f)));
        Assert.Throws<SeekSharpException>(() => FinanceRecipe.Run(a.Path, 1, 0, 60));
        Assert.Throws<SeekSharpException>(() => FinanceRecipe.Run(a.Path, 1, 2, 5));
        Assert.Throws<SeekSharpException>(() => FinanceRecipe.Run(a.Path, 1, 2, 30, lexiconPath: a.File("none.csv")));
    }
}
