using SeekSharp.Data.Curation;

namespace SeekSharp.Tests.Curation;

/// <summary>Exact dedup normalization, MinHash accuracy against exact Jaccard, LSH banding and near-duplicate detection.</summary>
public class DedupTests
{
    static string[] Words(int count, int seed) => QualityFilterTests.Gibberish(count, syllables: 4, seed: seed);

    [Fact]
    public void ExactDedupIgnoresWhitespaceAndCase()
    {
        var d = new ExactDeduplicator();
        Assert.False(d.IsDuplicate("Hello   World,\n  this is a test.", "a.txt", out _));
        Assert.True(d.IsDuplicate("  hello world, this\tIS a TEST.\r\n", "b.txt", out var first));
        Assert.Equal("a.txt", first);
        Assert.False(d.IsDuplicate("hello world, this is another test.", "c.txt", out _));
        Assert.Equal(2, d.Count);
    }

    [Fact]
    public void ExactDedupHandlesLongTexts()
    {
        var big = string.Join(' ', Enumerable.Range(0, 50_000).Select(i => $"w{i}\U0001F600"));
        var d = new ExactDeduplicator();
        Assert.False(d.IsDuplicate(big, "a", out _));
        Assert.True(d.IsDuplicate(big.Replace(" ", "  \n"), "b", out _));
        Assert.False(d.IsDuplicate(big + "x", "c", out _));
    }

    [Theory]
    [InlineData(0.2)]
    [InlineData(0.5)]
    [InlineData(0.8)]
    [InlineData(0.95)]
    public void MinHashEstimatesJaccard(double target)
    {
        // Two windows of one word stream: with L words and shift s they share L-4-s of L-4+s... 5-shingles.
        const int L = 400, k = 5;
        var stream = Words(L * 2, seed: 11);
        int shingles = L - k + 1;
        int s = (int)Math.Round(shingles * (1 - target) / (1 + target));
        string a = string.Join(' ', stream[..L]), b = string.Join(' ', stream[s..(s + L)]);
        double exact = MinHash.ExactJaccard(a, b, k);
        Assert.InRange(exact, target - 0.02, target + 0.02);
        var mh = new MinHash(128, k, seed: 42);
        double est = MinHash.EstimateJaccard(mh.Signature(a), mh.Signature(b));
        Assert.True(Math.Abs(est - exact) < 0.1, $"estimate {est} vs exact {exact}");
    }

    [Fact]
    public void MinHashIsDeterministicAndIgnoresCaseAndPunctuation()
    {
        var mh = new MinHash();
        var text = string.Join(' ', Words(50, seed: 5));
        Assert.Equal(mh.Signature(text), new MinHash().Signature(text));
        Assert.Equal(1.0, MinHash.EstimateJaccard(mh.Signature(text), mh.Signature(text.ToUpperInvariant().Replace(" ", ", "))));
        Assert.True(MinHash.IsEmpty(mh.Signature(" ... ")));
    }

    [Fact]
    public void SimdSignaturesEqualTheScalarOnes()
    {
        // Coefficients near 2^61 and shingle hashes of every size exercise each folding term; a permutation
        // count that is not a multiple of the vector width exercises the scalar tail.
        foreach (var (p, seed) in new[] { (128, 1UL), (131, 7UL), (3, 9UL) })
        {
            var mh = new MinHash(p, 5, seed);
            foreach (var text in new[] { "", "one", "a b c d", string.Join(' ', Words(300, seed: 3)), string.Join(' ', Enumerable.Range(0, 2000).Select(i => $"w{i * 7919 % 1000}")) })
            {
                var scalar = mh.Signature(text, simdBits: 0);
                Assert.Equal(scalar, mh.Signature(text, simdBits: 256));
                Assert.Equal(scalar, mh.Signature(text, simdBits: 512));
                Assert.Equal(scalar, mh.Signature(text));
            }
        }
    }

    [Fact]
    public void BandingForDefaultThresholdIsElevenByEleven()
    {
        Assert.Equal((11, 11), LshIndex.ChooseBanding(0.8, 128));
        Assert.InRange(LshIndex.SCurveThreshold(11, 11), 0.79, 0.81);
        Assert.True(LshIndex.CandidateProbability(0.95, 11, 11) > 0.999);
        Assert.True(LshIndex.CandidateProbability(0.5, 11, 11) < 0.01);
    }

    [Fact]
    public void NearDuplicateFoundUnrelatedNot()
    {
        var d = new NearDuplicateDeduplicator();
        for (int i = 0; i < 20; i++) Assert.False(d.IsDuplicate(string.Join(' ', Words(200, seed: 100 + i)), $"other{i}", out _));
        var original = Words(200, seed: 1);
        Assert.False(d.IsDuplicate(string.Join(' ', original), "orig", out _));

        var edited = (string[])original.Clone();
        edited[100] = "replacedword";
        Assert.True(d.IsDuplicate(string.Join(' ', edited), "edited", out var first));
        Assert.Equal("orig", first);

        Assert.False(d.IsDuplicate(string.Join(' ', Words(200, seed: 2)), "unrelated", out _));
        Assert.Equal(22, d.Count); // the duplicate was not indexed
    }

    [Fact]
    public void LshRejectsMismatchedSignatures()
    {
        var idx = new LshIndex();
        idx.Add(0, new MinHash().Signature("one two three four five six"));
        Assert.Throws<ArgumentException>(() => idx.TryFindDuplicate(new ulong[64], out _));
        Assert.Throws<SeekSharpException>(() => new LshIndex(0, 4));
    }
}
