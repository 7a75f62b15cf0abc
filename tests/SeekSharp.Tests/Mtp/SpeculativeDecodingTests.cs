using SeekSharp.Checkpoints;
using SeekSharp.Inference;
using SeekSharp.Modeling;
using SeekSharp.Serving;
using SeekSharp.Tests.Modeling;
using SeekSharp.Tests.Training;
using SeekSharp.Tokenization;
using SeekSharp.Training;

namespace SeekSharp.Tests.Mtp;

// Speculative decoding with the MTP module as drafter (decision 0021). fp32, so that the (n, 2) verify forward and
// the (n, 1) decode step agree to rounding and greedy tokens match exactly.
public class SpeculativeDecodingTests(TinyDataset data) : IClassFixture<TinyDataset>
{
    static readonly SamplingOptions Greedy = new(Temperature: 0);

    static async Task<int[]> Collect(GenerationHandle h)
    {
        var tokens = new List<int>();
        await foreach (var t in h.Tokens.ReadAllAsync()) tokens.Add(t);
        await h.Completion;
        return tokens.ToArray();
    }

    // A little trained model: its MTP module agrees with the main model often enough that both the accept and the
    // reject path are taken.
    string Trained()
    {
        var run = data.NewRunDir();
        Pretrainer.Run(new PretrainOptions(data.DataDir, run, TestModels.Mla() with { MaxPositionEmbeddings = 64, NumNextnPredictLayers = 1 },
            new TrainConfig { Steps = 20, BatchSize = 4, SeqLen = 48, Precision = "fp32", WarmupSteps = 4, EvalEvery = 0, CheckpointEvery = 0, MtpWeight = "1" }));
        return run;
    }

    static async Task<(int[][] Tokens, EngineStats Stats)> Serve(Transformer model, bool speculative, IReadOnlyList<int[]> prompts, SamplingOptions sampling, int maxTokens)
    {
        // Two rows for five requests: requests queue, join running batches and take over retired rows.
        using var engine = new GenerationEngine(model, new EngineOptions { MaxBatchSize = 2, PrefixBlockSize = 4, Speculative = speculative });
        var handles = prompts.Select((p, i) => engine.Submit(new GenerationRequest(p, maxTokens, sampling, 7 + i, new HashSet<int>()))).ToArray();
        var tokens = new int[handles.Length][];
        for (int i = 0; i < handles.Length; i++) tokens[i] = await Collect(handles[i]);
        return (tokens, engine.Stats());
    }

    [Fact]
    public async Task GreedyOutputIsIdenticalWithAndWithoutSpeculationInBatchesAndWithThePrefixCache()
    {
        using var model = ModelFiles.Load(Trained());
        var tok = BpeTokenizer.Load(data.TokenizerDir);
        var text = tok.Encode("the cat sat on the mat and the dog ran");
        // The last two share a prompt: the second restores it from the prefix cache.
        int[][] prompts = [text[..4], text[..7], text[2..9], text[..9], text[..9]];
        var (plain, off) = await Serve(model, false, prompts, Greedy, 20);
        var (spec, on) = await Serve(model, true, prompts, Greedy, 20);
        for (int i = 0; i < prompts.Length; i++) Assert.Equal(plain[i], spec[i]);
        Assert.Null(off.AcceptanceRate);
        Assert.True(on.CachedPromptTokens > 0);
        Assert.True(on.AcceptedDrafts > on.DraftedTokens / 2, $"accepted {on.AcceptedDrafts} of {on.DraftedTokens}");
        Assert.True(on.DecodeSteps < off.DecodeSteps, $"steps {on.DecodeSteps} with speculation, {off.DecodeSteps} without");
        // The single-sequence generator (no speculation) agrees too.
        Assert.Equal(new TokenGenerator(model).Generate(prompts[1], 20, Greedy, 0), spec[1]);
    }

    [Theory]
    [InlineData("mla")]
    [InlineData("mha")]
    public async Task GreedyOutputIsIdenticalWhenMostDraftsAreRejected(string kind)
    {
        // Untrained: the MTP module's drafts are mostly wrong, so the rollback path carries the output.
        var cfg = (kind == "mla" ? TestModels.Mla() : TestModels.Mha(moe: true)) with { NumNextnPredictLayers = 1 };
        using var model = new Transformer(cfg, seed: 9);
        int[][] prompts = [[1, 2, 3], [4, 5, 6, 7, 8, 9, 10, 11], [12, 13], [1, 2, 3, 4, 5], [1, 2, 3, 4, 5]];
        var (plain, _) = await Serve(model, false, prompts, Greedy, 14);
        var (spec, on) = await Serve(model, true, prompts, Greedy, 14);
        for (int i = 0; i < prompts.Length; i++) Assert.Equal(plain[i], spec[i]);
        Assert.True(on.AcceptedDrafts < on.DraftedTokens, $"accepted {on.AcceptedDrafts} of {on.DraftedTokens}");
    }

    [Fact]
    public async Task SampledOutputIsReproducibleWithAFixedSeed()
    {
        using var model = new Transformer(TestModels.Mha(moe: true) with { NumNextnPredictLayers = 1 }, seed: 4);
        var sampled = new SamplingOptions(Temperature: 0.9, TopP: 0.9);
        int[][] prompts = [[1, 2, 3], [4, 5, 6, 7], [8, 9], [1, 2, 3, 4, 5], [6]];
        var (a, sa) = await Serve(model, true, prompts, sampled, 16);
        var (b, _) = await Serve(model, true, prompts, sampled, 16);
        for (int i = 0; i < prompts.Length; i++) Assert.Equal(a[i], b[i]);
        Assert.True(sa.DraftedTokens > 0);
        Assert.All(a, t => Assert.Equal(16, t.Length));
    }

    [Fact]
    public void TheAcceptanceRuleKeepsTheTargetDistribution()
    {
        // Vocabulary of 4: draft q far from target p. Draw d ~ q, verify; the emitted tokens must follow p.
        float[] target = [2.0f, 0.5f, -1f, 1.0f], draft = [-1f, 2.0f, 1.0f, 0.0f];
        var opt = new SamplingOptions(Temperature: 1, TopP: 1);
        var p = SpeculativeSampler.Distribution(target, opt);
        var q = SpeculativeSampler.Distribution(draft, opt);
        var rng = new Random(11);
        const int n = 200_000;
        var counts = new int[4];
        int accepted = 0;
        for (int i = 0; i < n; i++)
        {
            var (token, ok) = SpeculativeSampler.Verify(p, q, SpeculativeSampler.Draw(q, rng), rng);
            counts[token]++;
            if (ok) accepted++;
        }
        for (int x = 0; x < 4; x++)
        {
            double sigma = Math.Sqrt(p[x] * (1 - p[x]) / n);
            Assert.True(Math.Abs(counts[x] / (double)n - p[x]) < 5 * sigma, $"token {x}: {counts[x] / (double)n:F4} vs p {p[x]:F4}");
        }
        // The acceptance rate is Σ min(p, q).
        double expected = p.Zip(q, Math.Min).Sum();
        Assert.True(Math.Abs(accepted / (double)n - expected) < 0.005, $"accepted {accepted / (double)n:F4}, expected {expected:F4}");
        // Greedy: kept exactly when the argmaxes agree.
        var g = SpeculativeSampler.Distribution(target, Greedy);
        Assert.Equal((0, true), SpeculativeSampler.Verify(g, g, 0, rng));
        Assert.Equal((0, false), SpeculativeSampler.Verify(g, SpeculativeSampler.Distribution(draft, Greedy), 1, rng));
    }

    [Fact]
    public void TheDistributionIsTheSamplersNucleus()
    {
        float[] logits = [3f, 2.9f, 0f, -2f, 1f];
        var opt = new SamplingOptions(Temperature: 0.7, TopP: 0.8, TopK: 3);
        var p = SpeculativeSampler.Distribution(logits, opt);
        var counts = new int[5];
        var rng = new Random(5);
        for (int i = 0; i < 100_000; i++) counts[Sampler.Sample(logits, opt, rng)]++;
        for (int x = 0; x < 5; x++) Assert.True(Math.Abs(counts[x] / 100_000.0 - p[x]) < 0.01, $"token {x}: {counts[x] / 1e5:F4} vs {p[x]:F4}");
    }
}
