using SeekSharp.Data.Curation;

namespace SeekSharp.Tests.Curation;

/// <summary>Each quality rule: clean prose passes, and a document built to break exactly that rule gets its reason code.</summary>
public class QualityFilterTests
{
    // Eight distinct lines of ordinary prose (~120 words): passes every default rule.
    internal const string Clean = """
        The river rose slowly through the night, and by morning the lower fields were under water.
        Farmers moved their cattle to the ridge before the roads closed, working by lantern light.
        Nobody in the valley could remember a spring when the snow had melted so quickly.
        The school opened its hall to families whose houses stood too close to the banks.
        Volunteers carried blankets, bread and dry clothes across the old stone bridge.
        By the third day the current had slackened, although the meadows still shone like a lake.
        Engineers from the county inspected the levee and promised to rebuild it before autumn.
        When the water finally drained away, it left a thick layer of silt that enriched the soil.
        """;

    static readonly QualityFilter Filter = new(new QualityConfig(), StopWords.English);

    static string Verdict(string text, QualityConfig? cfg = null)
    {
        var f = cfg is null ? Filter : new QualityFilter(cfg, StopWords.English);
        var v = f.Evaluate(text);
        Assert.Equal(v, f.Evaluate(f.Measure(text))); // the two entry points agree
        return v.Keep ? "keep" : v.Reason!;
    }

    /// <summary>Deterministic made-up words that are not stop words, e.g. "kavomi".</summary>
    internal static string[] Gibberish(int count, int syllables = 3, int seed = 7)
    {
        var rng = new Random(seed);
        const string cons = "bdfgklmnprstvz", vow = "aeiou";
        var words = new HashSet<string>();
        while (words.Count < count)
        {
            var w = "";
            for (int s = 0; s < syllables; s++) w += $"{cons[rng.Next(cons.Length)]}{vow[rng.Next(vow.Length)]}";
            words.Add(w);
        }
        return [.. words];
    }

    [Fact]
    public void CleanProsePasses() => Assert.Equal("keep", Verdict(Clean));

    [Fact]
    public void TooShort() => Assert.Equal(QualityReasons.TooShort, Verdict("The cat sat on the mat and looked at the door."));

    [Fact]
    public void TooLong()
    {
        var text = "the of " + string.Join(' ', Enumerable.Range(0, 100_000).Select(i => $"word{i}"));
        Assert.Equal(QualityReasons.TooLong, Verdict(text));
        Assert.Equal(QualityReasons.TooLong, Verdict(Clean, new QualityConfig { MaxWords = 50 }));
    }

    [Fact]
    public void MeanWordLength()
    {
        var letters = "bcdfghjklmnpqrstvwxz";
        var shortWords = "to of is " + string.Join(' ', letters.SelectMany(a => "aeiou".Select(b => $"{a}{b}")).Take(40));
        Assert.Equal(QualityReasons.MeanWordLength, Verdict(shortWords));
        var longWords = "to of " + string.Join(' ', Gibberish(40, syllables: 7));
        Assert.Equal(QualityReasons.MeanWordLength, Verdict(longWords));
    }

    [Fact]
    public void SymbolRatio()
    {
        Assert.Equal(QualityReasons.SymbolRatio, Verdict(Clean + string.Join(' ', Gibberish(20).Select(w => "#" + w))));
        Assert.Equal(QualityReasons.SymbolRatio, Verdict(string.Join(' ', Clean.Split(' ').Select((w, i) => i % 5 == 0 ? w + "..." : w))));
    }

    [Fact]
    public void BulletLines()
    {
        var bullets = string.Join('\n', Clean.Split('\n').Select(l => "• " + l));
        Assert.Equal(QualityReasons.BulletLines, Verdict(bullets));
    }

    [Fact]
    public void EllipsisLines()
    {
        var lines = Clean.Split('\n');
        var text = string.Join('\n', lines.Select((l, i) => i % 2 == 0 ? l.TrimEnd().TrimEnd('.') + "..." : l));
        Assert.Equal(QualityReasons.EllipsisLines, Verdict(text));
    }

    [Fact]
    public void AlphaWords() => Assert.Equal(QualityReasons.AlphaWords, Verdict(Clean + string.Concat(Enumerable.Repeat(" & -- +", 12))));

    [Fact]
    public void StopWordsRule() => Assert.Equal(QualityReasons.StopWords, Verdict(string.Join(' ', Gibberish(60))));

    [Fact]
    public void DigitRatioWithPerSourceOverride()
    {
        var digits = Clean + string.Join(' ', Enumerable.Range(0, 40).Select(i => $"x{1_000_000 + i * 7919}"));
        Assert.Equal(QualityReasons.DigitRatio, Verdict(digits));
        Assert.Equal("keep", Verdict(digits, new QualityConfig { MaxDigitRatio = 0.9 }));
    }

    [Fact]
    public void LoremIpsum() => Assert.Equal(QualityReasons.LoremIpsum, Verdict(Clean + "\nLorem Ipsum dolor sit amet."));

    [Fact]
    public void CurlyBracesOnlyWhenEnabled()
    {
        var code = Clean + "\nif (x) { y(); }";
        Assert.Equal("keep", Verdict(code));
        Assert.Equal(QualityReasons.CurlyBraces, Verdict(code, new QualityConfig { MaxCurlyBraceRatio = 0 }));
    }

    [Fact]
    public void DuplicateLines()
    {
        var text = Clean + string.Concat(Enumerable.Repeat("\nThanks.", 5));
        Assert.Equal(QualityReasons.DuplicateLines, Verdict(text));
    }

    [Fact]
    public void DuplicateLineChars()
    {
        var lines = Clean.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var text = string.Join('\n', lines.Concat([lines[0], lines[5]]));
        Assert.Equal(QualityReasons.DuplicateLineChars, Verdict(text));
    }

    [Fact]
    public void TopNgram()
    {
        var text = "the of " + string.Join(' ', Gibberish(20).Select(w => $"{w} new york"));
        Assert.Equal(QualityReasons.TopNgram, Verdict(text));
    }

    [Fact]
    public void DuplicateNgrams()
    {
        var passage = string.Join(' ', Gibberish(15, seed: 3));
        var text = Clean.Replace("\n", " ") + " " + passage + " and also " + passage;
        Assert.Equal(QualityReasons.DuplicateNgrams, Verdict(text));
    }

    [Fact]
    public void DetailNamesValueAndThreshold()
    {
        var v = Filter.Evaluate("Too few words here.");
        Assert.Equal("words 4 < 20", v.Detail);
    }

    [Fact]
    public void InvalidConfigNamesTheField()
    {
        var e = Assert.Throws<SeekSharpException>(() => new QualityFilter(new QualityConfig { MaxDigitRatio = 1.5 }, StopWords.English));
        Assert.Contains("MaxDigitRatio", e.Message);
    }

    [Fact]
    public void ScoreOrdersCleanProseAboveBoilerplate()
    {
        var boilerplate = string.Concat(Enumerable.Repeat("Click here to unsubscribe from this mailing list now.\n", 12));
        double clean = QualityScore.Score(Filter.Measure(Clean)), boiler = QualityScore.Score(Filter.Measure(boilerplate));
        Assert.InRange(clean, 0, 1);
        Assert.InRange(boiler, 0, 1);
        Assert.True(clean > boiler + 0.2, $"clean {clean} vs boilerplate {boiler}");
        Assert.Equal(0, QualityScore.Score(Filter.Measure("")));
    }
}
