using System.Buffers;
using System.Globalization;
using System.Text;

namespace SeekSharp.Data.Curation;

// Rule-based sentiment from a word-score lexicon such as AFINN-111 (Nielsen 2011): "word,score" lines,
// scores -5..+5. The shared copy has a header line ("word,valence"), comma separators, no quoting, and
// 15 multi-word entries ("can't stand", "does not work"), so lookups match the longest phrase first and a
// phrase's words are not scored again one by one. Words are matched lowercased with surrounding
// punctuation removed and typographic apostrophes (’) read as '. No negation handling ("not good" scores
// as "good") unless the lexicon lists the phrase: this is a cheap label, not a classifier.
//
// The label is the mean score per scored word divided by the lexicon's largest absolute score (5 for
// AFINN), so it lies in [-1, 1] whatever the lexicon's scale, and is 0 when no word is in the lexicon.

/// <summary>The sentiment of one text.</summary>
/// <param name="Normalized">Mean score per scored word / the lexicon's largest |score|: in [-1, 1].</param>
/// <param name="Sum">Sum of the matched entries' scores.</param>
/// <param name="ScoredWords">Matched lexicon entries (a phrase counts once).</param>
/// <param name="Words">Words in the text.</param>
public readonly record struct SentimentScore(double Normalized, double Sum, int ScoredWords, int Words);

/// <summary>A word/phrase → score lexicon. Immutable after loading; safe to share between threads.</summary>
public sealed class SentimentLexicon
{
    readonly Dictionary<string, double> entries;
    readonly Dictionary<string, double>.AlternateLookup<ReadOnlySpan<char>> lookup;
    readonly int maxPhraseWords;
    readonly double maxAbs;
    // Per first word of any entry: its own score (NaN when the word alone is no entry) and the most words of
    // an entry starting with it, so scoring looks a word up once and tries phrases only where one can start.
    readonly Dictionary<string, (double Score, int MaxWords)>.AlternateLookup<ReadOnlySpan<char>> firstWords;

    SentimentLexicon(Dictionary<string, double> entries)
    {
        this.entries = entries;
        lookup = entries.GetAlternateLookup<ReadOnlySpan<char>>();
        maxPhraseWords = entries.Keys.Max(k => k.Count(c => c == ' ') + 1);
        maxAbs = entries.Values.Max(Math.Abs);
        if (maxAbs == 0) maxAbs = 1;
        var first = new Dictionary<string, (double Score, int MaxWords)>(StringComparer.Ordinal);
        foreach (var (k, v) in entries)
        {
            var words = k.Split(' ');
            ref var f = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(first, words[0], out var existed);
            if (!existed) f = (double.NaN, 1);
            if (words.Length == 1) f.Score = v;
            f.MaxWords = Math.Max(f.MaxWords, words.Length);
        }
        firstWords = first.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    /// <summary>Entries (words and phrases).</summary>
    public int Count => entries.Count;

    /// <summary>Loads "word,score" lines (UTF-8). A first line whose score is not a number is a header and
    /// skipped; blank lines are skipped. Errors name the file and line: missing comma, empty word, a score
    /// that is not a finite number, a word listed twice.</summary>
    public static SentimentLexicon Load(string path)
    {
        if (!File.Exists(path)) throw new SeekSharpException($"sentiment lexicon '{path}': file not found.");
        var entries = new Dictionary<string, double>(StringComparer.Ordinal);
        int lineNo = 0;
        foreach (var raw in File.ReadLines(path, Encoding.UTF8))
        {
            lineNo++;
            var line = raw.Trim().TrimStart('\uFEFF');
            if (line.Length == 0) continue;
            int comma = line.LastIndexOf(',');
            if (comma < 0) throw Bad(path, lineNo, $"expected \"word,score\", got \"{line}\"");
            var word = Normalize(line[..comma]);
            var scoreText = line[(comma + 1)..].Trim();
            if (!double.TryParse(scoreText, NumberStyles.Float, CultureInfo.InvariantCulture, out var score) || !double.IsFinite(score))
            {
                if (lineNo == 1 && entries.Count == 0) continue; // header, e.g. "word,valence"
                throw Bad(path, lineNo, $"score \"{scoreText}\" is not a number");
            }
            if (word.Length == 0) throw Bad(path, lineNo, "empty word");
            if (!entries.TryAdd(word, score)) throw Bad(path, lineNo, $"\"{word}\" is listed twice");
        }
        if (entries.Count == 0) throw new SeekSharpException($"sentiment lexicon '{path}': no entries found.");
        return new SentimentLexicon(entries);
    }

    static SeekSharpException Bad(string path, int line, string what) => new($"sentiment lexicon '{path}' line {line}: {what}.");

    /// <summary>Lowercase, ’ as ', inner whitespace collapsed to one space.</summary>
    static string Normalize(string s) =>
        string.Join(' ', s.Trim().ToLowerInvariant().Replace('’', '\'').Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));

    /// <summary>A lexicon from in-memory entries (word or phrase → score), e.g. a recipe's small built-in list.</summary>
    public static SentimentLexicon FromEntries(IReadOnlyDictionary<string, double> entries)
    {
        var d = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var (k, v) in entries) d[Normalize(k)] = v;
        if (d.Count == 0) throw new ArgumentException("a lexicon needs at least one entry", nameof(entries));
        return new SentimentLexicon(d);
    }

    /// <summary>Scores <paramref name="text"/>: longest lexicon phrase first at each word.</summary>
    // Same words and matches as Matches(Tokens(text)), without a string per word or per phrase tried:
    // the words are written lowercased into one pooled buffer separated by single spaces, so the phrase of
    // words i..j is one contiguous slice, looked up as a span (the labeler's hot path).
    public SentimentScore Score(string text)
    {
        var buf = ArrayPool<char>.Shared.Rent(text.Length + 1);
        var bounds = ArrayPool<int>.Shared.Rent(text.Length + 1);   // start, end of each word in buf
        try
        {
            int pos = 0, words = 0;
            var t = text.AsSpan();
            for (int i = 0; i < t.Length;)
            {
                while (i < t.Length && char.IsWhiteSpace(t[i])) i++;
                int st = i;
                while (i < t.Length && !char.IsWhiteSpace(t[i])) i++;
                int a = st, b = i;
                while (a < b && IsEdge(t[a])) a++;
                while (b > a && IsEdge(t[b - 1])) b--;
                if (a == b) continue;
                var word = buf.AsSpan(pos, b - a);
                t[a..b].ToLowerInvariant(word);
                word.Replace('’', '\'');
                bounds[2 * words] = pos;
                bounds[2 * words + 1] = pos += b - a;
                buf[pos++] = ' ';
                words++;
            }
            double sum = 0;
            int scored = 0;
            for (int i = 0; i < words;)
            {
                int matched = 0;
                if (firstWords.TryGetValue(buf.AsSpan(bounds[2 * i], bounds[2 * i + 1] - bounds[2 * i]), out var first))
                {
                    for (int n = Math.Min(first.MaxWords, words - i); n >= 2 && matched == 0; n--)
                        if (lookup.TryGetValue(buf.AsSpan(bounds[2 * i], bounds[2 * (i + n - 1) + 1] - bounds[2 * i]), out var v)) { sum += v; scored++; matched = n; }
                    if (matched == 0 && !double.IsNaN(first.Score)) { sum += first.Score; scored++; matched = 1; }
                }
                i += Math.Max(1, matched);
            }
            double norm = scored == 0 ? 0 : Math.Clamp(sum / scored / maxAbs, -1, 1);
            return new SentimentScore(norm, sum, scored, words);
        }
        finally
        {
            ArrayPool<char>.Shared.Return(buf);
            ArrayPool<int>.Shared.Return(bounds);
        }
    }

    // Tokens trims Edge after reading ’ as ', so ’ is an edge character too.
    static bool IsEdge(char c) => EdgeOrCurly.Contains(c);

    /// <summary>The lexicon phrases found in <paramref name="text"/>, in order, with their scores.</summary>
    public IReadOnlyList<(string Phrase, double Score)> Matches(string text) => Matches(Tokens(text));

    List<(string Phrase, double Score)> Matches(List<string> words)
    {
        var found = new List<(string, double)>();
        var buf = new StringBuilder();
        for (int i = 0; i < words.Count;)
        {
            int matched = 0;
            for (int n = Math.Min(maxPhraseWords, words.Count - i); n >= 1 && matched == 0; n--)
            {
                buf.Clear();
                for (int j = i; j < i + n; j++) { if (j > i) buf.Append(' '); buf.Append(words[j]); }
                if (TryGet(buf, out var v)) { found.Add((buf.ToString(), v)); matched = n; }
            }
            i += Math.Max(1, matched);
        }
        return found;
    }

    bool TryGet(StringBuilder sb, out double v)
    {
        Span<char> tmp = sb.Length <= 256 ? stackalloc char[sb.Length] : new char[sb.Length];
        sb.CopyTo(0, tmp, sb.Length);
        return lookup.TryGetValue(tmp, out v);
    }

    static readonly char[] Edge = "\"`“”‘'.,;:!?()[]{}<>*_/\\|".ToCharArray();
    static readonly SearchValues<char> EdgeOrCurly = SearchValues.Create([.. Edge, '’']);

    /// <summary>Lowercased words with surrounding punctuation removed (inner ' and - kept: "can't", "well-being").</summary>
    static List<string> Tokens(string text)
    {
        var list = new List<string>();
        foreach (var raw in text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries))
        {
            var w = raw.Replace('’', '\'').Trim(Edge);
            if (w.Length > 0) list.Add(w.ToLowerInvariant());
        }
        return list;
    }
}
