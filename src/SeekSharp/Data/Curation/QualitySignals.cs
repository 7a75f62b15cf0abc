using System.Buffers;
using System.Runtime.InteropServices;

namespace SeekSharp.Data.Curation;

// The raw measurements behind the quality rules, kept separate from the verdict so the same numbers feed
// the filter, the quality score label, and reports. Measuring is two passes: one over the characters
// (lines and words together, which yields every per-word and per-line signal) and one over the array of
// normalized word hashes for the n-gram repetition signals, which need no strings: a multi-MB document
// costs a few pooled arrays of W longs and one hash table of at most 2W entries.

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
internal sealed class QualityMeasurer
{
    // Each stop word has an index, so the distinct ones found are bits, not a set of strings per document;
    // OrdinalIgnoreCase supports span lookups, so stop-word tests allocate no lowercased strings.
    readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> stop;
    readonly int stopCount, longestStop;
    static readonly SearchValues<string> Lorem = SearchValues.Create(["lorem ipsum"], StringComparison.OrdinalIgnoreCase);

    public QualityMeasurer(IEnumerable<string> stopWords)
    {
        var index = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
        foreach (var w in stopWords) index.TryAdd(w, index.Count);
        stop = index.GetAlternateLookup<ReadOnlySpan<char>>();
        stopCount = index.Count;
        longestStop = index.Keys.Select(k => k.Length).DefaultIfEmpty(0).Max();
    }

    static bool IsBullet(char c) => c is '•' or '-' or '*' or '‣' or '◦' or '·' or '–' or '▪' or '●';

    /// <summary>First pass. Fills <paramref name="wordHashes"/>/<paramref name="wordLengths"/> with the
    /// normal forms of words for the repetition pass; repetition fields are left empty.</summary>
    public QualitySignals Basic(string text, List<ulong> wordHashes, List<int> wordLengths)
    {
        int words = 0, alphaWords = 0, stopTokens = 0, hashes = 0, ellipses = 0, braces = 0;
        long wordChars = 0, nonWs = 0, digits = 0, lineChars = 0, dupLineChars = 0;
        int lines = 0, bulletLines = 0, ellipsisLines = 0, dupLines = 0;
        var seenLines = new HashSet<ulong>();
        Span<ulong> stopFound = stopCount <= 64 * 64 ? stackalloc ulong[(stopCount + 63) / 64] : new ulong[(stopCount + 63) / 64];
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
                if (core.Length > 0 && core.Length <= longestStop && stop.TryGetValue(core, out var sw)) { stopTokens++; stopFound[sw >> 6] |= 1UL << sw; }
                int n = TextHash.NormalWord(w, out var h);
                if (n > 0) { wordHashes.Add(h); wordLengths.Add(n); }
            }
        }
        double perWord(long x) => words == 0 ? 0 : (double)x / words;
        double frac(long x, long of) => of == 0 ? 0 : (double)x / of;
        return new QualitySignals(
            words, perWord(wordChars), perWord(hashes), perWord(ellipses),
            frac(bulletLines, lines), frac(ellipsisLines, lines), perWord(alphaWords),
            PopCount(stopFound), perWord(stopTokens), frac(digits, nonWs),
            text.AsSpan().ContainsAny(Lorem), perWord(braces),
            frac(dupLines, lines), frac(dupLineChars, lineChars), [], []);
    }

    static int PopCount(ReadOnlySpan<ulong> bits)
    {
        int n = 0;
        foreach (var b in bits) n += System.Numerics.BitOperations.PopCount(b);
        return n;
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
    // One level per n, from 2 up to the largest n any rule needs, each a pass of one hash table over the
    // positions that can still repeat. An n-gram occurring twice has its (n-1)-word prefix occurring twice,
    // so only the words in a repeated group of level n-1 (first occurrence included) are looked at on
    // level n: level 2 sees every word, and prose has few repeated 5-grams, so the six duplicate-n-gram
    // levels cost a fraction of one. Positions are visited in increasing order and every occurrence of a
    // repeated n-gram is visited, so the counts, the first n-gram to reach the top count and the marked
    // words are exactly those of checking every window (a unique n-gram never counts past 1, which is
    // where the top count starts). Tested against that straightforward computation.
    public static (double[] top, double[] dup) Repetition(List<ulong> hashes, List<int> lengths, int topCount, int dupCount)
    {
        var h = CollectionsMarshal.AsSpan(hashes);
        var len = CollectionsMarshal.AsSpan(lengths);
        int words = h.Length;
        var top = new double[topCount];
        var dup = new double[dupCount];
        int maxN = Math.Max(topCount + 1, dupCount == 0 ? 0 : dupCount + 4);
        if (words < 2 || maxN < 2) return (top, dup);

        var pre = ArrayPool<ulong>.Shared.Rent(words + 1);    // pre[i]: polynomial hash of words 0..i-1
        var chars = ArrayPool<long>.Shared.Rent(words + 1);   // chars[i]: characters of words 0..i-1
        var cand = ArrayPool<int>.Shared.Rent(words);         // window starts of this level, increasing
        var flags = ArrayPool<byte>.Shared.Rent(words);       // bit 0: in a repeated group; bit 1: marked duplicate
        var table = new NgramTable(words);
        try
        {
            pre[0] = 0;
            chars[0] = 0;
            for (int i = 0; i < words; i++) { pre[i + 1] = pre[i] * NgramBase + h[i]; chars[i + 1] = chars[i] + len[i]; }
            long total = chars[words];
            if (total == 0) return (top, dup);
            flags.AsSpan(0, words).Clear();
            int count = words - 1;
            for (int i = 0; i < count; i++) cand[i] = i;
            ulong pow = NgramBase;
            for (int n = 2; n <= maxN && words >= n; n++)
            {
                pow *= NgramBase;   // B^n
                bool doTop = n - 2 < topCount, doDup = n - 5 >= 0 && n - 5 < dupCount;
                table.Reset(count);
                int best = 1;                                       // window 0, the first to reach count 1
                long bestChars = chars[n], dupChars = 0;
                int markedUpTo = 0;                                 // words before this index are already marked
                for (int c = 0; c < count; c++)
                {
                    int i = cand[c];
                    ref var e = ref table.Find(TextHash.Mix((pre[i + n] - pre[i] * pow) ^ (ulong)n), out bool isNew);
                    if (isNew) { e.First = i; continue; }
                    if (e.Count == 2) flags[e.First] |= 1;
                    flags[i] |= 1;
                    if (doTop && e.Count > best) { best = e.Count; bestChars = chars[i + n] - chars[i]; }
                    if (!doDup) continue;
                    // A repeated occurrence (not the first one): its words count once even if several
                    // overlapping repeated n-grams cover them, as in datatrove's Gopher implementation.
                    for (int j = Math.Max(i, markedUpTo); j < i + n; j++)
                        if ((flags[j] & 2) == 0) { flags[j] |= 2; dupChars += len[j]; }
                    markedUpTo = i + n;
                }
                // Overlapping occurrences ("a a a a") can count a character twice: cap at 1.
                if (doTop) top[n - 2] = Math.Min(1.0, (double)best * bestChars / total);
                if (doDup) dup[n - 5] = (double)dupChars / total;

                int next = 0;
                for (int c = 0; c < count; c++)
                {
                    int i = cand[c];
                    if ((flags[i] & 1) == 0) continue;
                    flags[i] = 0;
                    if (i + n + 1 <= words) cand[next++] = i;
                }
                if (doDup) flags.AsSpan(0, words).Clear();
                count = next;
            }
            return (top, dup);
        }
        finally
        {
            ArrayPool<ulong>.Shared.Return(pre);
            ArrayPool<long>.Shared.Return(chars);
            ArrayPool<int>.Shared.Return(cand);
            ArrayPool<byte>.Shared.Return(flags);
            table.Dispose();
        }
    }

    // The n-gram hash is Mix(g ^ n) with g the polynomial Σ h[i+j]·B^(n-1-j) (mod 2^64) of the n word
    // hashes, read off prefix sums as pre[i+n] - pre[i]·B^n; the word hashes are already well mixed.
    const ulong NgramBase = 0x100000001B3UL * 2 + 1;

    /// <summary>Open-addressing table from n-gram hash to (occurrences, first position); pooled arrays.</summary>
    struct NgramTable(int capacity) : IDisposable
    {
        public struct Entry { public ulong Key; public int Count, First; }
        Entry[] slots = ArrayPool<Entry>.Shared.Rent(SizeFor(capacity));
        int mask, shift;

        static int SizeFor(int n) => (int)Math.Max(16, System.Numerics.BitOperations.RoundUpToPowerOf2((uint)n * 2));

        /// <summary>Empties the table, sized for <paramref name="n"/> keys (at most the constructor's capacity).</summary>
        public void Reset(int n)
        {
            int size = SizeFor(n);
            slots.AsSpan(0, size).Clear();
            mask = size - 1;
            shift = 64 - System.Numerics.BitOperations.Log2((uint)size);
        }

        /// <summary>The entry of <paramref name="key"/> with its count already incremented.</summary>
        public ref Entry Find(ulong key, out bool isNew)
        {
            int i = (int)(key >> shift);   // the top bits: the key is a mixed hash
            while (true)
            {
                ref var e = ref slots[i];
                if (e.Count == 0) { e.Key = key; e.Count = 1; isNew = true; return ref e; }
                if (e.Key == key) { e.Count++; isNew = false; return ref e; }
                i = (i + 1) & mask;
            }
        }

        public readonly void Dispose() => ArrayPool<Entry>.Shared.Return(slots);
    }
}
