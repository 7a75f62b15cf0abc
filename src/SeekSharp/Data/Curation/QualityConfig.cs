namespace SeekSharp.Data.Curation;

// Heuristic document-quality thresholds. The defaults are the published Gopher "quality filter" rules
// (Rae et al. 2021, "Scaling Language Models", appendix A: MassiveText quality and repetition filters)
// and two C4 rules (Raffel et al. 2020, section 2.2), loosened only where our sources differ from web
// pages, with the reason next to each. A config is immutable: to treat one source differently (the
// synthetic arithmetic source is mostly digits) the pipeline builds a second filter from
// `cfg with { MaxDigitRatio = 0.9 }` for that source; filters are cheap to construct.

/// <summary>Thresholds of <see cref="QualityFilter"/>. Ratios are fractions in [0, 1].</summary>
public sealed record QualityConfig
{
    /// <summary>Fewest whitespace-separated words. Gopher uses 50; we keep mails, reviews and single
    /// paragraphs, whose good examples often have 20..50 words, so the default is 20.</summary>
    public int MinWords { get; init; } = 20;

    /// <summary>Most words (Gopher: 100,000); longer documents are usually concatenated dumps or logs.</summary>
    public int MaxWords { get; init; } = 100_000;

    /// <summary>Lowest mean word length in characters (Gopher: 3); below it is mostly symbols or stutter.</summary>
    public double MinMeanWordLength { get; init; } = 3;

    /// <summary>Highest mean word length (Gopher: 10); above it is mostly URLs, base64 or hashes.</summary>
    public double MaxMeanWordLength { get; init; } = 10;

    /// <summary>Most '#' symbols, and separately most ellipses ("..." or "…"), per word (Gopher: 0.1).</summary>
    public double MaxSymbolToWordRatio { get; init; } = 0.1;

    /// <summary>Most non-empty lines starting with a bullet (•, -, *, ‣, ◦, ·) (Gopher: 0.9): menus and link lists.</summary>
    public double MaxBulletLineFraction { get; init; } = 0.9;

    /// <summary>Most non-empty lines ending in an ellipsis (Gopher: 0.3): truncated teasers and snippets.</summary>
    public double MaxEllipsisLineFraction { get; init; } = 0.3;

    /// <summary>Fewest words containing at least one letter (Gopher: 0.8).</summary>
    public double MinAlphaWordFraction { get; init; } = 0.8;

    /// <summary>Fewest distinct stop words present (Gopher: 2 of "the, be, to, of, and, that, have, with");
    /// we count any word of the filter's stop-word set, which is a weaker but language-agnostic-set test.</summary>
    public int MinStopWords { get; init; } = 2;

    /// <summary>Most non-empty lines that repeat an earlier line (Gopher: 0.3).</summary>
    public double MaxDuplicateLineFraction { get; init; } = 0.3;

    /// <summary>Most characters in lines that repeat an earlier line (Gopher: 0.2).</summary>
    public double MaxDuplicateLineCharFraction { get; init; } = 0.2;

    /// <summary>Most word characters covered by the single most frequent n-gram, for n = 2, 3, 4, ...
    /// in order (Gopher: 0.20, 0.18, 0.16).</summary>
    public IReadOnlyList<double> MaxTopNgramCharFraction { get; init; } = [0.20, 0.18, 0.16];

    /// <summary>Most word characters inside repeated occurrences of n-grams, for n = 5, 6, ... in order
    /// (Gopher: 0.15, 0.14, 0.13, 0.12, 0.11, 0.10 for n = 5..10).</summary>
    public IReadOnlyList<double> MaxDuplicateNgramCharFraction { get; init; } = [0.15, 0.14, 0.13, 0.12, 0.11, 0.10];

    /// <summary>Most digits among non-whitespace characters (not in Gopher; 0.3 drops tables and number
    /// dumps). Raise it per source for digit-heavy data such as the synthetic arithmetic corpus.</summary>
    public double MaxDigitRatio { get; init; } = 0.3;

    /// <summary>Drop documents containing "lorem ipsum", case-insensitively (C4): placeholder text.</summary>
    public bool DropLoremIpsum { get; init; } = true;

    /// <summary>Most curly braces ('{' and '}') per word, or null for no limit (the default). C4 drops any
    /// page with a '{' to remove code, but we curate code, JSON-ish chat data and LaTeX math on purpose,
    /// so this rule is opt-in; 0 reproduces C4.</summary>
    public double? MaxCurlyBraceRatio { get; init; }

    /// <summary>Checks ranges; throws <see cref="SeekSharpException"/> naming the field.</summary>
    public QualityConfig Validate()
    {
        if (MinWords < 0) throw Bad(nameof(MinWords), "0 or more", MinWords);
        if (MaxWords < MinWords) throw Bad(nameof(MaxWords), $">= {nameof(MinWords)} ({MinWords})", MaxWords);
        if (!(MinMeanWordLength >= 0)) throw Bad(nameof(MinMeanWordLength), "0 or more", MinMeanWordLength);
        if (!(MaxMeanWordLength >= MinMeanWordLength)) throw Bad(nameof(MaxMeanWordLength), $">= {nameof(MinMeanWordLength)}", MaxMeanWordLength);
        if (!(MaxSymbolToWordRatio >= 0)) throw Bad(nameof(MaxSymbolToWordRatio), "0 or more", MaxSymbolToWordRatio);
        Fraction(nameof(MaxBulletLineFraction), MaxBulletLineFraction);
        Fraction(nameof(MaxEllipsisLineFraction), MaxEllipsisLineFraction);
        Fraction(nameof(MinAlphaWordFraction), MinAlphaWordFraction);
        if (MinStopWords < 0) throw Bad(nameof(MinStopWords), "0 or more", MinStopWords);
        Fraction(nameof(MaxDuplicateLineFraction), MaxDuplicateLineFraction);
        Fraction(nameof(MaxDuplicateLineCharFraction), MaxDuplicateLineCharFraction);
        foreach (var f in MaxTopNgramCharFraction) Fraction(nameof(MaxTopNgramCharFraction), f);
        foreach (var f in MaxDuplicateNgramCharFraction) Fraction(nameof(MaxDuplicateNgramCharFraction), f);
        Fraction(nameof(MaxDigitRatio), MaxDigitRatio);
        if (MaxCurlyBraceRatio is { } c && !(c >= 0)) throw Bad(nameof(MaxCurlyBraceRatio), "0 or more, or null", c);
        return this;
    }

    static void Fraction(string name, double v)
    {
        if (!(v >= 0 && v <= 1)) throw Bad(name, "a fraction in [0, 1]", v);
    }

    static SeekSharpException Bad(string name, string expected, object got) =>
        new($"quality config {name}: expected {expected}, got {got}.");
}
