using System.Globalization;

namespace SeekSharp.Data.Curation;

// Gopher/C4-style heuristic quality filter. Rules run in a fixed order and the first failing one is the
// verdict, so every dropped document is counted under exactly one reason code in the manifest. Cheap
// per-word and per-line rules run first; the n-gram repetition pass (the costly one) runs only for
// documents that survive them. Reason codes are part of the manifest format: never rename one.

/// <summary>Stable reason codes of <see cref="QualityFilter"/> (counted in the curation manifest).</summary>
public static class QualityReasons
{
    public const string TooShort = "too_short";
    public const string TooLong = "too_long";
    public const string MeanWordLength = "mean_word_length";
    public const string SymbolRatio = "symbol_ratio";
    public const string BulletLines = "bullet_lines";
    public const string EllipsisLines = "ellipsis_lines";
    public const string AlphaWords = "alpha_words";
    public const string StopWords = "stop_words";
    public const string DigitRatio = "digit_ratio";
    public const string LoremIpsum = "lorem_ipsum";
    public const string CurlyBraces = "curly_braces";
    public const string DuplicateLines = "duplicate_lines";
    public const string DuplicateLineChars = "duplicate_line_chars";
    public const string TopNgram = "top_ngram";
    public const string DuplicateNgrams = "duplicate_ngrams";

    /// <summary>All codes, in the order the rules run.</summary>
    public static IReadOnlyList<string> All { get; } =
    [
        TooShort, TooLong, MeanWordLength, SymbolRatio, BulletLines, EllipsisLines, AlphaWords, StopWords,
        DigitRatio, LoremIpsum, CurlyBraces, DuplicateLines, DuplicateLineChars, TopNgram, DuplicateNgrams,
    ];
}

/// <summary>Keeps or drops a document by the rules of a <see cref="QualityConfig"/>. Stateless after
/// construction, so one instance may be shared by threads.</summary>
public sealed class QualityFilter
{
    readonly QualityMeasurer measurer;

    /// <param name="cfg">Thresholds (validated here).</param>
    /// <param name="stopWords">Stop words for the stop-word rule, matched case-insensitively
    /// (<see cref="Curation.StopWords.English"/> or <see cref="Curation.StopWords.Load"/>).</param>
    public QualityFilter(QualityConfig cfg, IReadOnlySet<string> stopWords)
    {
        Config = cfg.Validate();
        measurer = new QualityMeasurer(stopWords);
    }

    public QualityConfig Config { get; }

    /// <summary>All signals of <paramref name="text"/>, including the repetition pass.</summary>
    public QualitySignals Measure(string text)
    {
        var (hashes, lengths) = WordBuffers();
        var s = measurer.Basic(text, hashes, lengths);
        return WithRepetition(s, hashes, lengths);
    }

    /// <summary>The verdict for <paramref name="text"/>; skips the repetition pass when a cheaper rule fails.</summary>
    public FilterVerdict Evaluate(string text) => Check(text).Verdict;

    /// <summary>The verdict and the signals for <paramref name="text"/>; when a cheaper rule fails, the
    /// repetition pass is skipped and its signals are empty.</summary>
    public (FilterVerdict Verdict, QualitySignals Signals) Check(string text)
    {
        var (hashes, lengths) = WordBuffers();
        var s = measurer.Basic(text, hashes, lengths);
        var v = CheckBasic(s);
        if (!v.Keep) return (v, s);
        s = WithRepetition(s, hashes, lengths);
        return (CheckRepetition(s), s);
    }

    // The per-word hashes and lengths of the document being measured, reused per thread (a filter is
    // shared by the pipeline's workers); emptied here, and dropped after a very long document.
    [ThreadStatic] static List<ulong>? hashBuffer;
    [ThreadStatic] static List<int>? lengthBuffer;

    static (List<ulong>, List<int>) WordBuffers()
    {
        if (hashBuffer is null || hashBuffer.Capacity > 1 << 20) (hashBuffer, lengthBuffer) = (new List<ulong>(1024), new List<int>(1024));
        hashBuffer.Clear();
        lengthBuffer!.Clear();
        return (hashBuffer, lengthBuffer);
    }

    /// <summary>The verdict for signals already measured (so a caller measures once for filter and label).</summary>
    public FilterVerdict Evaluate(QualitySignals s)
    {
        var v = CheckBasic(s);
        return v.Keep ? CheckRepetition(s) : v;
    }

    QualitySignals WithRepetition(QualitySignals s, List<ulong> hashes, List<int> lengths)
    {
        var (top, dup) = QualityMeasurer.Repetition(hashes, lengths,
            Config.MaxTopNgramCharFraction.Count, Config.MaxDuplicateNgramCharFraction.Count);
        return s with { TopNgramCharFraction = top, DuplicateNgramCharFraction = dup };
    }

    FilterVerdict CheckBasic(QualitySignals s)
    {
        var c = Config;
        if (s.Words < c.MinWords) return Drop(QualityReasons.TooShort, "words", s.Words, "<", c.MinWords);
        if (s.Words > c.MaxWords) return Drop(QualityReasons.TooLong, "words", s.Words, ">", c.MaxWords);
        if (s.MeanWordLength < c.MinMeanWordLength) return Drop(QualityReasons.MeanWordLength, "mean word length", s.MeanWordLength, "<", c.MinMeanWordLength);
        if (s.MeanWordLength > c.MaxMeanWordLength) return Drop(QualityReasons.MeanWordLength, "mean word length", s.MeanWordLength, ">", c.MaxMeanWordLength);
        if (s.HashRatio > c.MaxSymbolToWordRatio) return Drop(QualityReasons.SymbolRatio, "'#' per word", s.HashRatio, ">", c.MaxSymbolToWordRatio);
        if (s.EllipsisRatio > c.MaxSymbolToWordRatio) return Drop(QualityReasons.SymbolRatio, "ellipses per word", s.EllipsisRatio, ">", c.MaxSymbolToWordRatio);
        if (s.BulletLineFraction > c.MaxBulletLineFraction) return Drop(QualityReasons.BulletLines, "bullet lines", s.BulletLineFraction, ">", c.MaxBulletLineFraction);
        if (s.EllipsisLineFraction > c.MaxEllipsisLineFraction) return Drop(QualityReasons.EllipsisLines, "ellipsis lines", s.EllipsisLineFraction, ">", c.MaxEllipsisLineFraction);
        if (s.AlphaWordFraction < c.MinAlphaWordFraction) return Drop(QualityReasons.AlphaWords, "words with a letter", s.AlphaWordFraction, "<", c.MinAlphaWordFraction);
        if (s.StopWordsPresent < c.MinStopWords) return Drop(QualityReasons.StopWords, "distinct stop words", s.StopWordsPresent, "<", c.MinStopWords);
        if (s.DigitRatio > c.MaxDigitRatio) return Drop(QualityReasons.DigitRatio, "digit ratio", s.DigitRatio, ">", c.MaxDigitRatio);
        if (c.DropLoremIpsum && s.HasLoremIpsum) return FilterVerdict.Drop(QualityReasons.LoremIpsum, "contains \"lorem ipsum\"");
        if (c.MaxCurlyBraceRatio is { } b && s.CurlyBraceRatio > b) return Drop(QualityReasons.CurlyBraces, "braces per word", s.CurlyBraceRatio, ">", b);
        if (s.DuplicateLineFraction > c.MaxDuplicateLineFraction) return Drop(QualityReasons.DuplicateLines, "duplicate lines", s.DuplicateLineFraction, ">", c.MaxDuplicateLineFraction);
        if (s.DuplicateLineCharFraction > c.MaxDuplicateLineCharFraction) return Drop(QualityReasons.DuplicateLineChars, "characters in duplicate lines", s.DuplicateLineCharFraction, ">", c.MaxDuplicateLineCharFraction);
        return FilterVerdict.Pass;
    }

    FilterVerdict CheckRepetition(QualitySignals s)
    {
        var c = Config;
        for (int k = 0; k < Math.Min(s.TopNgramCharFraction.Count, c.MaxTopNgramCharFraction.Count); k++)
            if (s.TopNgramCharFraction[k] > c.MaxTopNgramCharFraction[k])
                return Drop(QualityReasons.TopNgram, $"characters in the top {k + 2}-gram", s.TopNgramCharFraction[k], ">", c.MaxTopNgramCharFraction[k]);
        for (int k = 0; k < Math.Min(s.DuplicateNgramCharFraction.Count, c.MaxDuplicateNgramCharFraction.Count); k++)
            if (s.DuplicateNgramCharFraction[k] > c.MaxDuplicateNgramCharFraction[k])
                return Drop(QualityReasons.DuplicateNgrams, $"characters in duplicate {k + 5}-grams", s.DuplicateNgramCharFraction[k], ">", c.MaxDuplicateNgramCharFraction[k]);
        return FilterVerdict.Pass;
    }

    static FilterVerdict Drop(string reason, string what, double value, string op, double threshold) =>
        FilterVerdict.Drop(reason, string.Create(CultureInfo.InvariantCulture, $"{what} {value:0.###} {op} {threshold:0.###}"));
}
