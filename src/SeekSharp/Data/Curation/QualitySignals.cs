namespace SeekSharp.Data.Curation;

// The raw measurements behind the quality rules, kept separate from the verdict so the same numbers feed
// the filter, the quality score label, and reports. Measuring is two passes: one over the characters
// (lines and words together, which yields every per-word and per-line signal) and one over the array of
// normalized word hashes for the n-gram repetition signals, which need no strings: a multi-MB document
// costs a few arrays of W longs and one hash set of at most W entries per n.

/// <summary>Measured properties of one document (see <see cref="QualityConfig"/> for each rule's meaning).</summary>
/// <param name="Words">Whitespace-separated words.</param>
/// <param name="MeanWordLength">Mean characters per word (punctuation included, as in Gopher).</param>
/// <param name="HashRatio">'#' characters per word.</param>
/// <param name="EllipsisRatio">Ellipses ("..." or "…") per word.</param>
/// <param name="BulletLineFraction">Non-empty lines starting with a bullet.</param>
/// <param name="EllipsisLineFraction">Non-empty lines ending in an ellipsis.</param>
/// <param name="AlphaWordFraction">Words with at least one letter.</param>
/// <param name="StopWordsPresent">Distinct stop words found.</param>
/// <param name="StopWordFraction">Words that are stop words (English prose: 0.4..0.55 with a large list).</param>
/// <param name="DigitRatio">Digits among non-whitespace characters.</param>
/// <param name="HasLoremIpsum">Contains "lorem ipsum" (any case).</param>
/// <param name="CurlyBraceRatio">'{' and '}' characters per word.</param>
/// <param name="DuplicateLineFraction">Non-empty lines equal (trimmed) to an earlier line.</param>
/// <param name="DuplicateLineCharFraction">Characters of those lines among all non-empty lines' characters.</param>
/// <param name="TopNgramCharFraction">Per n = 2, 3, ...: word characters covered by the most frequent n-gram.</param>
/// <param name="DuplicateNgramCharFraction">Per n = 5, 6, ...: word characters inside repeated n-gram occurrences.</param>
public sealed record QualitySignals(
    int Words, double MeanWordLength, double HashRatio, double EllipsisRatio,
    double BulletLineFraction, double EllipsisLineFraction, double AlphaWordFraction,
    int StopWordsPresent, double StopWordFraction, double DigitRatio, bool HasLoremIpsum, double CurlyBraceRatio,
    double DuplicateLineFraction, double DuplicateLineCharFraction,
    IReadOnlyList<double> TopNgramCharFraction, IReadOnlyList<double> DuplicateNgramCharFraction);

/// <summary>The two measuring passes; <see cref="QualityFilter"/> runs the second only when the first passes.</summary>
internal sealed class QualityMeasurer(HashSet<string> stopWords)
{
    // OrdinalIgnoreCase supports span lookups, so stop-word tests allocate no lowercased strings.
    readonly HashSet<string>.AlternateLookup<ReadOnlySpan<char>> stop = stopWords.GetAlternateLookup<ReadOnlySpan<char>>();

    static bool IsBullet(char c) => c is '•' or '-' or '*' or '‣' or '◦' or '·' or '–' or '▪' or '●';

    /// <summary>First pass. Fills <paramref name="wordHashes"/>/<paramref name="wordLengths"/> with the
    /// normal forms of words for the repetition pass; repetition fields are left empty.</summary>
    public QualitySignals Basic(string text, List<ulong> wordHashes, List<int> wordLengths)
    {
        int words = 0, alphaWords = 0, stopTokens = 0, hashes = 0, ellipses = 0, braces = 0;
        long wordChars = 0, nonWs = 0, digits = 0, lineChars = 0, dupLineChars = 0;
        int lines = 0, bulletLines = 0, ellipsisLines = 0, dupLines = 0;
        var seenLines = new HashSet<ulong>();
        var stopFound = new HashSet<string>(StringComparer.Ordinal);
        var span = text.AsSpan();
        int pos = 0;
        while (pos < span.Length)
        {
            int nl = span[pos..].IndexOf('\n');
            var line = nl < 0 ? span[pos..] : span.Slice(pos, nl);
            pos = nl < 0 ? span.Length : pos + nl + 1;
            var t = line.Trim();
            if (t.Length == 0) continue;
            lines++;
            lineChars += t.Length;
            if (IsBullet(t[0])) bulletLines++;
            if (t.EndsWith("...") || t.EndsWith("…")) ellipsisLines++;
            if (!seenLines.Add(TextHash.Line(t))) { dupLines++; dupLineChars += t.Length; }

            int i = 0;
            while (i < t.Length)
            {
                while (i < t.Length && char.IsWhiteSpace(t[i])) i++;
                int start = i;
                bool alpha = false;
                for (; i < t.Length && !char.IsWhiteSpace(t[i]); i++)
                {
                    char c = t[i];
                    if (char.IsLetter(c)) alpha = true;
                    else if (char.IsDigit(c)) digits++;
                    else if (c == '#') hashes++;
                    else if (c == '…') ellipses++;
                    else if (c is '{' or '}') braces++;
                }
                if (i == start) break;
                var w = t[start..i];
                words++;
                wordChars += w.Length;
                nonWs += w.Length;
                if (alpha) alphaWords++;
                ellipses += CountDots(w);
                var core = w.Trim(TrimChars);
                if (core.Length > 0 && stop.TryGetValue(core, out var sw)) { stopTokens++; stopFound.Add(sw); }
                int n = TextHash.NormalWord(w, out var h);
                if (n > 0) { wordHashes.Add(h); wordLengths.Add(n); }
            }
        }
        double perWord(long x) => words == 0 ? 0 : (double)x / words;
        double frac(long x, long of) => of == 0 ? 0 : (double)x / of;
        return new QualitySignals(
            words, perWord(wordChars), perWord(hashes), perWord(ellipses),
            frac(bulletLines, lines), frac(ellipsisLines, lines), perWord(alphaWords),
            stopFound.Count, perWord(stopTokens), frac(digits, nonWs),
            text.Contains("lorem ipsum", StringComparison.OrdinalIgnoreCase), perWord(braces),
            frac(dupLines, lines), frac(dupLineChars, lineChars), [], []);
    }

    static readonly char[] TrimChars = "\"'`“”‘’.,;:!?()[]{}<>*_-–—/\\|".ToCharArray();

    /// <summary>Non-overlapping "..." runs in a word ("...." counts once).</summary>
    static int CountDots(ReadOnlySpan<char> w)
    {
        int count = 0, run = 0;
        foreach (var c in w)
        {
            if (c == '.') { run++; continue; }
            if (run >= 3) count++;
            run = 0;
        }
        return run >= 3 ? count + 1 : count;
    }

    /// <summary>Second pass: n-gram repetition over normalized words (Gopher appendix A, repetition removal).</summary>
    public static (double[] top, double[] dup) Repetition(List<ulong> hashes, List<int> lengths, int topCount, int dupCount)
    {
        var h = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(hashes);
        var len = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(lengths);
        long total = 0;
        foreach (var l in len) total += l;
        var top = new double[topCount];
        var dup = new double[dupCount];
        if (total == 0) return (top, dup);

        var grams = new ulong[h.Length];
        var counts = new Dictionary<ulong, int>();
        for (int k = 0; k < topCount; k++)
        {
            int n = k + 2;
            if (h.Length < n) break;
            counts.Clear();
            int best = 0; long bestChars = 0;
            int m = Ngrams(h, n, grams);
            counts.EnsureCapacity(m); // grow once, not by repeated rehashing of a multi-MB document
            for (int i = 0; i < m; i++)
            {
                ref int c = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(counts, grams[i], out _);
                if (++c > best)
                {
                    best = c;
                    bestChars = 0;
                    for (int j = i; j < i + n; j++) bestChars += len[j];
                }
            }
            // Overlapping occurrences ("a a a a") can count a character twice: cap at 1.
            top[k] = Math.Min(1.0, (double)best * bestChars / total);
        }

        var seen = new HashSet<ulong>();
        var marked = new bool[h.Length];
        for (int k = 0; k < dupCount; k++)
        {
            int n = k + 5;
            if (h.Length < n) break;
            seen.Clear();
            Array.Clear(marked);
            long dupChars = 0;
            int markedUpTo = 0; // words before this index that a repeated n-gram already covered
            int m = Ngrams(h, n, grams);
            seen.EnsureCapacity(m);
            for (int i = 0; i < m; i++)
            {
                if (seen.Add(grams[i])) continue;
                // A repeated occurrence (not the first one): its words count once even if several
                // overlapping repeated n-grams cover them, as in datatrove's Gopher implementation.
                for (int j = Math.Max(i, markedUpTo); j < i + n; j++)
                    if (!marked[j]) { marked[j] = true; dupChars += len[j]; }
                markedUpTo = i + n;
            }
            dup[k] = (double)dupChars / total;
        }
        return (top, dup);
    }

    /// <summary>Rolling polynomial hash of every window of n word hashes (mod 2^64; the word hashes are
    /// already well mixed, so this is as good as hashing each window from scratch and O(1) per step).</summary>
    static int Ngrams(ReadOnlySpan<ulong> h, int n, Span<ulong> dst)
    {
        const ulong B = 0x100000001B3UL * 2 + 1;
        ulong pow = 1;
        for (int j = 1; j < n; j++) pow *= B;
        ulong g = 0;
        for (int j = 0; j < n; j++) g = g * B + h[j];
        dst[0] = TextHash.Mix(g ^ (ulong)n);
        int m = h.Length - n + 1;
        for (int i = 1; i < m; i++)
        {
            g = (g - h[i - 1] * pow) * B + h[i + n - 1];
            dst[i] = TextHash.Mix(g ^ (ulong)n);
        }
        return m;
    }
}
