namespace SeekSharp.Data.Curation;

// Stop-word sets for the quality filter's "looks like natural language" rule and for labelers. The
// built-in English set lets the pipeline run without the shared corpora folder; it is the common core of
// the NLTK and scikit-learn lists (function words only, no content words), lowercase, with the usual
// contraction forms. Sets compare case-insensitively.

/// <summary>Loads stop-word lists; provides a built-in English set.</summary>
public static class StopWords
{
    /// <summary>Built-in English function words (~150).</summary>
    public static IReadOnlySet<string> English { get; } = new HashSet<string>(
    [
        "a", "about", "above", "after", "again", "against", "all", "am", "an", "and", "any", "are", "as", "at",
        "be", "because", "been", "before", "being", "below", "between", "both", "but", "by",
        "can", "could", "did", "do", "does", "doing", "down", "during", "each", "few", "for", "from", "further",
        "had", "has", "have", "having", "he", "her", "here", "hers", "herself", "him", "himself", "his", "how",
        "i", "if", "in", "into", "is", "it", "its", "itself", "just", "me", "more", "most", "my", "myself",
        "no", "nor", "not", "now", "of", "off", "on", "once", "only", "or", "other", "ought", "our", "ours",
        "ourselves", "out", "over", "own", "same", "shall", "she", "should", "so", "some", "such",
        "than", "that", "the", "their", "theirs", "them", "themselves", "then", "there", "these", "they",
        "this", "those", "through", "to", "too", "under", "until", "up", "upon", "us", "very",
        "was", "we", "were", "what", "when", "where", "which", "while", "who", "whom", "why", "will", "with",
        "would", "you", "your", "yours", "yourself", "yourselves",
        "don't", "doesn't", "didn't", "isn't", "aren't", "wasn't", "weren't", "won't", "can't", "it's",
        "i'm", "i've", "i'll", "i'd", "you're", "we're", "they're", "that's", "there's",
    ], StringComparer.OrdinalIgnoreCase);

    /// <summary>One word per line (UTF-8); blank lines and lines starting with '#' are skipped, words are
    /// trimmed. Throws <see cref="SeekSharpException"/> naming the file for a missing file or a line with
    /// inner whitespace (likely a wrong file format).</summary>
    public static IReadOnlySet<string> Load(string path)
    {
        if (!File.Exists(path)) throw new SeekSharpException($"stop-word list '{path}': file not found.");
        var set = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        int lineNo = 0;
        foreach (var raw in File.ReadLines(path))
        {
            lineNo++;
            var w = raw.Trim().TrimStart('\uFEFF');
            if (w.Length == 0 || w[0] == '#') continue;
            if (w.AsSpan().IndexOfAny(" \t,;") >= 0)
                throw new SeekSharpException($"stop-word list '{path}' line {lineNo}: expected one word per line, got \"{w}\".");
            set.Add(w);
        }
        if (set.Count == 0) throw new SeekSharpException($"stop-word list '{path}': no words found.");
        return set;
    }
}
