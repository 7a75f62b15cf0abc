using SeekSharp.Data.Curation;

namespace SeekSharp.Tests.Curation;

/// <summary>Sentiment lexicon loading and scoring, stop-word lists, and the labeler adapters.</summary>
public class LabelTests : TempDirTest
{
    string Lexicon(string content)
    {
        var path = Path.Combine(NewDir(), "lex.csv");
        File.WriteAllText(path, content);
        return path;
    }

    [Fact]
    public void FastScoreAgreesWithMatches()
    {
        var lex = SentimentLexicon.FromEntries(new Dictionary<string, double>
            { ["good"] = 3, ["bad"] = -3, ["can't stand"] = -3, ["does not work"] = -2, ["well-being"] = 2, ["ÉLAN"] = 1, ["élan"] = 2,
              ["not"] = -1, ["not good"] = -2, ["not good at all"] = -4, ["some kind"] = 0 });
        string[] texts =
        [
            "", "   ", "Good. GOOD!! (good) \"bad\" — I can’t stand it; it does not work... does not",
            "Well-being,\tbad\n\n‘good’ ÉLAN élan *bad* [does] not work does not work!",
            string.Concat(Enumerable.Repeat("x good y bad can't stand ", 50)) + new string('g', 300) + " good",
            "not good at all, not good at, not good, not, not not good some kind some kinds of NOT GOOD AT ALL not",

        ];
        foreach (var t in texts)
        {
            var s = lex.Score(t);
            var m = lex.Matches(t);
            Assert.Equal(m.Count, s.ScoredWords);
            Assert.Equal(m.Sum(x => x.Score), s.Sum, 9);
        }
    }

    [Fact]
    public void ScoresHandMadeSentences()
    {
        var lex = SentimentLexicon.Load(Lexicon("word,score\ngood,3\nbad,-3\ndoes not work,-2\n"));
        Assert.Equal(3, lex.Count);
        Assert.Equal(1.0, lex.Score("This is GOOD!").Normalized);
        Assert.Equal(-1.0, lex.Score("Bad, bad day.").Normalized);
        Assert.Equal(0.0, lex.Score("good and bad").Normalized);
        var none = lex.Score("Nothing to see here");
        Assert.Equal((0.0, 0, 4), (none.Normalized, none.ScoredWords, none.Words));
        // The phrase wins over its words and counts once: (-2 + 3) / 2 scored / 3 max.
        var phrase = lex.Score("It does not work, but the idea is good.");
        Assert.Equal(2, phrase.ScoredWords);
        Assert.Equal(1.0 / 2 / 3, phrase.Normalized, 9);
    }

    [Theory]
    [InlineData("good,3\nbad\n", "line 2", "word,score")]
    [InlineData("good,3\nbad,terrible\n", "line 2", "not a number")]
    [InlineData("good,3\n,2\n", "line 2", "empty word")]
    [InlineData("good,3\nGood,1\n", "line 2", "twice")]
    [InlineData("word,score\n\n", "no entries", "")]
    public void LoadErrorsNameFileAndLine(string content, string where, string what)
    {
        var path = Lexicon(content);
        var e = Assert.Throws<SeekSharpException>(() => SentimentLexicon.Load(path));
        Assert.Contains(path, e.Message);
        Assert.Contains(where, e.Message);
        Assert.Contains(what, e.Message);
        Assert.Contains("not found", Assert.Throws<SeekSharpException>(() => SentimentLexicon.Load(path + ".missing")).Message);
    }

    [Fact]
    public void LoadsSharedAfinnWhenPresent()
    {
        // Integration check against the real file (header line, multi-word entries); skipped where absent.
        var path = Path.Combine(AppContext.BaseDirectory, "../../../../../../shared/corpora/lexicons/afinn-111.csv");
        if (!File.Exists(path)) return;
        var lex = SentimentLexicon.Load(path);
        Assert.Equal(2477, lex.Count);
        Assert.True(lex.Score("I can't stand this").Normalized < 0);
        Assert.True(lex.Score("What a wonderful, happy day").Normalized > 0);
    }

    [Fact]
    public void StopWordListsLoad()
    {
        var path = Path.Combine(NewDir(), "stop.txt");
        File.WriteAllText(path, "# comment\nThe\n\n  of \nand\n");
        var set = StopWords.Load(path);
        Assert.Equal(3, set.Count);
        Assert.Contains("the", set);
        File.WriteAllText(path, "the\nof and\n");
        Assert.Contains("line 2", Assert.Throws<SeekSharpException>(() => StopWords.Load(path)).Message);
        Assert.Contains("the", StopWords.English);
        Assert.DoesNotContain("river", StopWords.English);
    }

    [Fact]
    public void LabelersAdaptHeuristics()
    {
        var lex = SentimentLexicon.Load(Lexicon("good,3\nbad,-3\n"));
        ILabeler sentiment = new SentimentLabeler(lex);
        ILabeler quality = new QualityLabeler(new QualityFilter(new QualityConfig(), StopWords.English));
        Assert.Equal(("sentiment", "quality"), (sentiment.Name, quality.Name));
        Assert.Equal(1.0, sentiment.Label("reviews", "good"));
        Assert.InRange(quality.Label("news", QualityFilterTests.Clean), 0.5, 1.0);
    }
}
