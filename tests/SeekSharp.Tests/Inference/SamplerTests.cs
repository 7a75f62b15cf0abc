using SeekSharp.Inference;

namespace SeekSharp.Tests.Inference;

public class SamplerTests
{
    static float[] Logits(int seed, int v, double scale)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, v).Select(_ => (float)(rng.NextDouble() * scale)).ToArray();
    }

    /// <summary>The textbook nucleus sampler: sort every token by probability, keep the top K, then the shortest
    /// prefix reaching P, draw in that order. Returns a drawing function (the sort is done once).</summary>
    static Func<Random, int> Reference(float[] logits, SamplingOptions opt)
    {
        double max = logits.Max();
        var p = logits.Select(l => Math.Exp((l - max) / opt.Temperature)).ToArray();
        double sum = p.Sum();
        var idx = Enumerable.Range(0, p.Length).OrderByDescending(i => p[i]).ToArray();
        int keep = opt.TopK > 0 ? Math.Min(opt.TopK, p.Length) : p.Length;
        double cum = 0;
        for (int i = 0; i < keep; i++)
        {
            cum += p[idx[i]] / sum;
            if (cum >= opt.TopP) { keep = i + 1; break; }
        }
        double total = 0;
        for (int i = 0; i < keep; i++) total += p[idx[i]];
        return rng =>
        {
            double r = rng.NextDouble() * total;
            for (int i = 0; i < keep; i++) { r -= p[idx[i]]; if (r <= 0) return idx[i]; }
            return idx[keep - 1];
        };
    }

    [Theory]
    [InlineData(0.8, 0.95, 0, 4.0)]
    [InlineData(1.0, 0.5, 0, 4.0)]
    [InlineData(0.7, 0.9, 0, 30.0)]   // peaked: a few tokens hold the mass
    [InlineData(1.0, 1.0, 40, 4.0)]
    [InlineData(1.3, 0.8, 100, 10.0)]
    [InlineData(0.5, 0.99, 0, 60.0)]
    public void NucleusAndTopKDrawWhatAFullSortDraws(double temperature, double topP, int topK, double scale)
    {
        var opt = new SamplingOptions(temperature, topP, topK);
        for (int seed = 0; seed < 3; seed++)
        {
            var logits = Logits(seed, 1024, scale);
            var reference = Reference(logits, opt);
            var fast = new Random(seed);
            var slow = new Random(seed);
            for (int draw = 0; draw < 100; draw++)
                Assert.Equal(reference(slow), Sampler.Sample(logits, opt, fast));
        }
    }

    [Fact]
    public void GreedyAndTopOneTakeTheArgmax()
    {
        var logits = Logits(3, 1000, 5);
        int best = Array.IndexOf(logits, logits.Max());
        var rng = new Random(1);
        Assert.Equal(best, Sampler.Sample(logits, new SamplingOptions(0), rng));
        for (int i = 0; i < 50; i++) Assert.Equal(best, Sampler.Sample(logits, new SamplingOptions(2.0, 1.0, 1), rng));
    }

    [Fact]
    public void WithoutTruncationTokensAreDrawnInProportionToTheirProbability()
    {
        float[] logits = [0, (float)Math.Log(2), (float)Math.Log(5), float.NegativeInfinity];
        var counts = new int[4];
        var rng = new Random(5);
        const int n = 40_000;
        for (int i = 0; i < n; i++) counts[Sampler.Sample(logits, new SamplingOptions(1.0, 1.0), rng)]++;
        Assert.Equal(0, counts[3]);
        double[] expected = [1 / 8.0, 2 / 8.0, 5 / 8.0];
        for (int t = 0; t < 3; t++) Assert.InRange((double)counts[t] / n, expected[t] - 0.01, expected[t] + 0.01);
    }
}

public class SamplerInvalidLogitsTests
{
    static float[] Row(int at, float value)
    {
        var row = Enumerable.Range(0, 300).Select(i => (float)Math.Sin(i)).ToArray();
        row[at] = value;
        return row;
    }

    public static TheoryData<double, double, int> Paths => new()
    {
        { 0, 1, 0 },        // greedy (argmax)
        { 0.8, 1, 0 },      // temperature, no truncation: the id-order walk
        { 0.8, 0.9, 0 },    // nucleus: the bucketed path that used to index bucket -int.MaxValue
        { 1.0, 1, 20 },     // top-k
        { 1.3, 0.5, 40 },   // both
    };

    [Theory]
    [MemberData(nameof(Paths))]
    public void NaNOrPositiveInfinityIsAnInvalidLogitsErrorOnEveryPath(double temperature, double topP, int topK)
    {
        var opt = new SamplingOptions(temperature, topP, topK);
        foreach (var (at, value, name) in new[] { (0, float.NaN, "NaN"), (137, float.NaN, "NaN"), (299, float.PositiveInfinity, "+Inf") })
        {
            var e = Assert.Throws<InvalidLogitsException>(() => Sampler.Sample(Row(at, value), opt, new Random(1)));
            Assert.Equal($"{name} at id {at}", e.Problem);
            Assert.Null(e.Token);
            Assert.IsAssignableFrom<SeekSharpException>(e); // a clear error the CLI prints, not a crash
        }
        var allMasked = Enumerable.Repeat(float.NegativeInfinity, 50).ToArray();
        Assert.Equal("every logit is -Inf", Assert.Throws<InvalidLogitsException>(() => Sampler.Sample(allMasked, opt, new Random(1))).Problem);
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void MaskedTokensAtMinusInfinityAreStillSampledAround(double temperature, double topP, int topK)
    {
        var row = Row(5, float.NegativeInfinity);
        row[7] = 50; // far above the rest: every path picks it
        var rng = new Random(2);
        for (int i = 0; i < 20; i++) Assert.Equal(7, Sampler.Sample(row, new SamplingOptions(temperature, topP, topK), rng));
    }

    [Fact]
    public void TheErrorNamesTheTokenItHappenedAt()
    {
        var e = new InvalidLogitsException("NaN at id 3").AtToken(12);
        Assert.Equal(12, e.Token);
        Assert.Equal("the model produced NaN/Inf logits at token 12 (NaN at id 3; corrupt or diverged weights).", e.Message);
    }
}
