namespace SeekSharp.Data.Curation;

// Labels are numbers attached to each kept document (CuratedDocument.Labels, keyed by the labeler's
// Name) for later conditioning, mixing or analysis. ILabeler is the extension point for user labelers;
// the two adapters wrap the built-in heuristics. Labelers must be deterministic and thread-safe (no
// mutable state), so the pipeline may run them in parallel.

/// <summary>Computes one numeric label per document.</summary>
public interface ILabeler
{
    /// <summary>The label's key in <see cref="CuratedDocument.Labels"/>, e.g. "sentiment".</summary>
    string Name { get; }

    /// <summary>The label of <paramref name="text"/> from source <paramref name="source"/>.</summary>
    double Label(string source, string text);
}

/// <summary>Lexicon sentiment in [-1, 1] (<see cref="SentimentScore.Normalized"/>).</summary>
public sealed class SentimentLabeler(SentimentLexicon lexicon, string name = "sentiment") : ILabeler
{
    public string Name { get; } = name;
    public double Label(string source, string text) => lexicon.Score(text).Normalized;
}

/// <summary>Heuristic quality in [0, 1] (<see cref="QualityScore"/>) against the filter's thresholds.</summary>
public sealed class QualityLabeler(QualityFilter filter, string name = "quality") : ILabeler
{
    public string Name { get; } = name;
    public double Label(string source, string text) => QualityScore.Score(filter.Measure(text), filter.Config);
}
