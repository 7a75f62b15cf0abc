namespace SeekSharp.Data.Curation;

// A heuristic quality label in [0, 1], not a trained classifier: each component says how far inside its
// filter threshold(s) the document sits (1 = comfortably inside, 0 = at or past the threshold), and the
// score is a fixed weighted mean. Repetition weighs most because boilerplate and spam templates are the
// commonest low-quality text that still passes the hard filter. Useful for sorting, mixing weights and
// as a conditioning label; the weights are guesses documented here, not fitted.

/// <summary>Blends <see cref="QualitySignals"/> into one number in [0, 1].</summary>
public static class QualityScore
{
    // Weights sum to 1.
    const double WRepetition = 0.35, WNatural = 0.20, WAlpha = 0.15, WWordLength = 0.10, WSymbols = 0.10, WLength = 0.10;

    /// <summary>The score of <paramref name="s"/> against <paramref name="cfg"/>'s thresholds (defaults when null).</summary>
    public static double Score(QualitySignals s, QualityConfig? cfg = null)
    {
        cfg ??= Default;
        if (s.Words == 0) return 0;

        // Repetition: mean over the four repetition families of the margin of the worst member.
        double rep = (Margin(s.DuplicateLineFraction, cfg.MaxDuplicateLineFraction)
                    + Margin(s.DuplicateLineCharFraction, cfg.MaxDuplicateLineCharFraction)
                    + Worst(s.TopNgramCharFraction, cfg.MaxTopNgramCharFraction)
                    + Worst(s.DuplicateNgramCharFraction, cfg.MaxDuplicateNgramCharFraction)) / 4;

        // Natural language: English prose has 40..55 % stop-word tokens; 30 % or more earns full marks.
        double natural = Math.Clamp(s.StopWordFraction / 0.30, 0, 1);

        // Words with letters: 0 at the threshold, 1 when every word has a letter.
        double alpha = cfg.MinAlphaWordFraction >= 1 ? (s.AlphaWordFraction >= 1 ? 1 : 0)
            : Math.Clamp((s.AlphaWordFraction - cfg.MinAlphaWordFraction) / (1 - cfg.MinAlphaWordFraction), 0, 1);

        // Mean word length: full marks 1.5 characters or more inside both bounds (4.5..8.5 by default).
        double inside = Math.Min(s.MeanWordLength - cfg.MinMeanWordLength, cfg.MaxMeanWordLength - s.MeanWordLength);
        double wordLength = Math.Clamp(inside / 1.5, 0, 1);

        // Symbols and layout: the worst of the per-word symbol ratios, bullet/ellipsis lines and digits.
        double symbols = Math.Min(Math.Min(Margin(s.HashRatio, cfg.MaxSymbolToWordRatio), Margin(s.EllipsisRatio, cfg.MaxSymbolToWordRatio)),
            Math.Min(Math.Min(Margin(s.BulletLineFraction, cfg.MaxBulletLineFraction), Margin(s.EllipsisLineFraction, cfg.MaxEllipsisLineFraction)),
                Margin(s.DigitRatio, cfg.MaxDigitRatio)));

        // Length: 0 at the minimum, 1 at ten times the minimum (log scale); longer says little more.
        double min = Math.Max(1, cfg.MinWords);
        double length = Math.Clamp(Math.Log((double)s.Words / min) / Math.Log(10), 0, 1);

        double score = WRepetition * rep + WNatural * natural + WAlpha * alpha + WWordLength * wordLength
                     + WSymbols * symbols + WLength * length;
        return Math.Clamp(score, 0, 1);
    }

    static readonly QualityConfig Default = new();

    /// <summary>1 - value/threshold, clamped: 1 for none of the bad thing, 0 at the threshold.</summary>
    static double Margin(double value, double threshold) =>
        threshold <= 0 ? (value <= 0 ? 1 : 0) : Math.Clamp(1 - value / threshold, 0, 1);

    static double Worst(IReadOnlyList<double> values, IReadOnlyList<double> thresholds)
    {
        double m = 1;
        for (int k = 0; k < Math.Min(values.Count, thresholds.Count); k++) m = Math.Min(m, Margin(values[k], thresholds[k]));
        return m;
    }
}
