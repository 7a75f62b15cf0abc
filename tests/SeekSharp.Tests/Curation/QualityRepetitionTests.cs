using SeekSharp.Data.Curation;

namespace SeekSharp.Tests.Curation;

/// <summary>The level-by-level n-gram repetition pass against the straightforward one (every window of every n).</summary>
public class QualityRepetitionTests
{
    // The straightforward computation: for each n, a count (or seen-set) over every window, in order.
    static (double[] top, double[] dup) Reference(ulong[] h, int[] len, int topCount, int dupCount)
    {
        long total = len.Sum(l => (long)l);
        var top = new double[topCount];
        var dup = new double[dupCount];
        if (total == 0) return (top, dup);
        for (int k = 0; k < topCount && h.Length >= k + 2; k++)
        {
            int n = k + 2, best = 0;
            long bestChars = 0;
            var counts = new Dictionary<ulong, int>();
            for (int i = 0; i + n <= h.Length; i++)
            {
                var g = Gram(h, i, n);
                counts[g] = counts.GetValueOrDefault(g) + 1;
                if (counts[g] > best) { best = counts[g]; bestChars = len.AsSpan(i, n).ToArray().Sum(l => (long)l); }
            }
            top[k] = Math.Min(1.0, (double)best * bestChars / total);
        }
        for (int k = 0; k < dupCount && h.Length >= k + 5; k++)
        {
            int n = k + 5, markedUpTo = 0;
            long dupChars = 0;
            var seen = new HashSet<ulong>();
            var marked = new bool[h.Length];
            for (int i = 0; i + n <= h.Length; i++)
            {
                if (seen.Add(Gram(h, i, n))) continue;
                for (int j = Math.Max(i, markedUpTo); j < i + n; j++)
                    if (!marked[j]) { marked[j] = true; dupChars += len[j]; }
                markedUpTo = i + n;
            }
            dup[k] = (double)dupChars / total;
        }
        return (top, dup);
    }

    // The n-gram key the filter uses: Mix(polynomial of the word hashes ^ n).
    static ulong Gram(ulong[] h, int i, int n)
    {
        const ulong B = 0x100000001B3UL * 2 + 1;
        ulong g = 0;
        for (int j = 0; j < n; j++) g = g * B + h[i + j];
        return TextHash.Mix(g ^ (ulong)n);
    }

    public static TheoryData<int, int, int> Fixtures()
    {
        var d = new TheoryData<int, int, int>();
        // (words, vocabulary, seed): a small vocabulary repeats n-grams often, a large one rarely.
        foreach (var (w, v) in new[] { (0, 5), (1, 5), (4, 3), (7, 2), (12, 1), (60, 3), (300, 8), (2000, 40), (5000, 5000) })
            for (int seed = 1; seed <= 3; seed++) d.Add(w, v, seed);
        return d;
    }

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void LevelsEqualTheStraightforwardComputation(int words, int vocabulary, int seed)
    {
        var rng = new Random(seed);
        var ids = Enumerable.Range(0, words).Select(_ => rng.Next(vocabulary)).ToArray();
        // Splice in copies of earlier passages, as boilerplate does.
        for (int c = 0; c < words / 50; c++)
        {
            int from = rng.Next(words), to = rng.Next(words), n = rng.Next(3, 15);
            for (int j = 0; j < n && from + j < words && to + j < words; j++) ids[to + j] = ids[from + j];
        }
        var h = ids.Select(i => TextHash.Mix((ulong)i + 1)).ToArray();
        var len = ids.Select(i => 1 + i % 9).ToArray();
        foreach (var (topCount, dupCount) in new[] { (3, 6), (0, 6), (3, 0), (1, 1), (8, 9) })
        {
            var expected = Reference(h, len, topCount, dupCount);
            var actual = QualityMeasurer.Repetition([.. h], [.. len], topCount, dupCount);
            Assert.Equal(expected.top, actual.top);
            Assert.Equal(expected.dup, actual.dup);
        }
    }

    [Fact]
    public void OverlappingRunsAndTheFirstWordsOfAText()
    {
        var filter = new QualityFilter(new QualityConfig(), StopWords.English);
        foreach (var text in new[] { "a a a a a a a a a a a a", "x y x y x y x y z", "one two three four five one two three four five six", QualityFilterTests.Clean })
        {
            var hashes = new List<ulong>();
            foreach (var w in text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries))
                if (TextHash.NormalWord(w, out var wh) > 0) hashes.Add(wh);
            var len = text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).Select(w => w.Count(char.IsLetterOrDigit)).Where(n => n > 0).ToArray();
            var expected = Reference([.. hashes], len, 3, 6);
            var s = filter.Measure(text);
            Assert.Equal(expected.top, s.TopNgramCharFraction);
            Assert.Equal(expected.dup, s.DuplicateNgramCharFraction);
        }
    }
}
