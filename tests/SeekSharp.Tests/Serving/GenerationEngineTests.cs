using SeekSharp.Inference;
using SeekSharp.Modeling;
using SeekSharp.Serving;
using SeekSharp.Tests.Modeling;

namespace SeekSharp.Tests.Serving;

// fp32 unless a test says otherwise: batched and single decoding then agree to rounding, so greedy tokens match
// exactly (in bf16, a prompt prefilled in a padded group rounds differently and a near-tie can flip: 0011).
public class GenerationEngineTests
{
    static readonly SamplingOptions Greedy = new(Temperature: 0);
    static readonly IReadOnlySet<int> NoStop = new HashSet<int>();

    static GenerationRequest Request(int[] prompt, int maxTokens, SamplingOptions? sampling = null, int seed = 0, IReadOnlySet<int>? stop = null) =>
        new(prompt, maxTokens, sampling ?? Greedy, seed, stop ?? NoStop);

    static async Task<(int[] Tokens, GenerationUsage Usage)> Collect(GenerationHandle h)
    {
        var tokens = new List<int>();
        await foreach (var t in h.Tokens.ReadAllAsync()) tokens.Add(t);
        return (tokens.ToArray(), await h.Completion);
    }

    static int[] Prompt(int seed, int length, int vocab)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, length).Select(_ => rng.Next(1, vocab)).ToArray();
    }

    [Theory]
    [InlineData("mla")]
    [InlineData("mha")]
    public async Task BatchedDecodingGivesEachRequestWhatItGetsAlone(string kind)
    {
        var cfg = kind == "mla" ? TestModels.Mla() : TestModels.Mha(moe: true);
        using var model = new Transformer(cfg, seed: 3);
        int[][] prompts = [Prompt(1, 3, 64), Prompt(2, 9, 64), Prompt(3, 5, 64), Prompt(4, 14, 64)];
        var sampled = new SamplingOptions(Temperature: 0.9, TopP: 0.9);
        // Reference: the single-sequence generator, one request at a time.
        var gen = new TokenGenerator(model);
        var expectedGreedy = prompts.Select(p => gen.Generate(p, 12, Greedy, seed: 0).ToArray()).ToArray();
        var expectedSampled = prompts.Select((p, i) => gen.Generate(p, 12, sampled, seed: 100 + i).ToArray()).ToArray();

        using var engine = new GenerationEngine(model, new EngineOptions { PrefixCacheBytes = 0 });
        var handles = prompts.Select(p => engine.Submit(Request(p, 12)))
            .Concat(prompts.Select((p, i) => engine.Submit(Request(p, 12, sampled, seed: 100 + i)))).ToArray();
        var results = await Task.WhenAll(handles.Select(Collect));
        for (int i = 0; i < prompts.Length; i++)
        {
            Assert.Equal(expectedGreedy[i], results[i].Tokens);
            Assert.Equal(expectedSampled[i], results[prompts.Length + i].Tokens);
            Assert.Equal(new GenerationUsage(prompts[i].Length, 0, 12, FinishReason.Length), results[i].Usage);
        }
        var stats = engine.Stats();
        Assert.True(stats.DecodeRows > stats.DecodeSteps, $"rows {stats.DecodeRows} over {stats.DecodeSteps} steps: nothing was batched");
        Assert.Equal(8 * 11, stats.DecodeRows);   // the first token of each comes from its prefill
        Assert.Equal(8 * 12, stats.CompletionTokens);
        Assert.Equal(2 * prompts.Sum(p => p.Length), stats.PromptTokens);
    }

    [Fact]
    public async Task RequestsAdmittedTogetherWithCachedPrefixesDecodeAsAlone()
    {
        var cfg = TestModels.Mla() with { MaxPositionEmbeddings = 256 };
        using var model = new Transformer(cfg, seed: 3);
        var shared = Prompt(5, 12, 64);
        int[][] prompts = [[.. shared, 1], [.. shared, 2, 3, 4, 5, 6, 7, 8, 9], Prompt(6, 3, 64), [.. shared[..9], 7, 7]];
        var gen = new TokenGenerator(model);
        var expected = prompts.Select(p => gen.Generate(p, 6, Greedy, seed: 0).ToArray()).ToArray();
        using var engine = new GenerationEngine(model, new EngineOptions { PrefixBlockSize = 4, MaxPrefillTokens = 24, GroupPrefill = true });
        await Collect(engine.Submit(Request(shared, 1)));                   // caches the shared prefix
        // While a long request keeps the decode thread stepping, the four queue up and are admitted together:
        // different cached lengths (12, 12, 0, 8), remainders padded in groups of at most 24 tokens.
        using var cts = new CancellationTokenSource();
        var busy = engine.Submit(Request(Prompt(9, 4, 64), 250), cts.Token);
        Assert.True(await busy.Tokens.WaitToReadAsync());
        var handles = prompts.Select(p => engine.Submit(Request(p, 6))).ToArray();
        var results = await Task.WhenAll(handles.Select(Collect));
        cts.Cancel();
        await Collect(busy);
        for (int i = 0; i < prompts.Length; i++) Assert.Equal(expected[i], results[i].Tokens);
        Assert.Equal([12, 12, 0, 8], results.Select(r => r.Usage.CachedPromptTokens));
    }

    [Fact]
    public async Task StopIdsEndGenerationWithoutEmittingThem()
    {
        using var model = new Transformer(TestModels.Mla(), seed: 3);
        var prompt = Prompt(7, 6, 64);
        var free = new TokenGenerator(model).Generate(prompt, 10, Greedy, seed: 0).ToArray();
        using var engine = new GenerationEngine(model);
        var (tokens, usage) = await Collect(engine.Submit(Request(prompt, 10, stop: new HashSet<int> { free[3] })));
        int first = Array.IndexOf(free, free[3]);
        Assert.Equal(free[..first], tokens);
        Assert.Equal(FinishReason.Stop, usage.FinishReason);
        Assert.Equal(first, usage.CompletionTokens);
    }

    [Fact]
    public async Task GenerationStopsAtTheEndOfTheContext()
    {
        var cfg = TestModels.Mha();
        using var model = new Transformer(cfg, seed: 3);
        using var engine = new GenerationEngine(model);
        var (tokens, usage) = await Collect(engine.Submit(Request(Prompt(1, cfg.MaxPositionEmbeddings - 3, 64), 100)));
        Assert.Equal(3, tokens.Length);
        Assert.Equal(FinishReason.Length, usage.FinishReason);
    }

    [Fact]
    public async Task ASharedPrefixIsServedFromTheCacheWithTheSameOutput()
    {
        using var model = new Transformer(TestModels.Mla(), seed: 3);
        var shared = Prompt(11, 20, 64);
        int[] first = [.. shared, 5, 6, 7], second = [.. shared, 9, 9];
        var expected = new TokenGenerator(model).Generate(second, 8, Greedy, seed: 0).ToArray();
        using var engine = new GenerationEngine(model, new EngineOptions { PrefixBlockSize = 8 });
        var a = await Collect(engine.Submit(Request(first, 4)));
        Assert.Equal(0, a.Usage.CachedPromptTokens);
        var b = await Collect(engine.Submit(Request(second, 8)));
        Assert.Equal(16, b.Usage.CachedPromptTokens); // two whole blocks of the 20 shared tokens
        Assert.Equal(expected, b.Tokens);
        // The same prompt again: everything but the last (incomplete) block, never the whole prompt.
        var c = await Collect(engine.Submit(Request(second, 8)));
        Assert.Equal(16, c.Usage.CachedPromptTokens);
        Assert.Equal(expected, c.Tokens);
        // A follow-up turn that repeats prompt and reply hits the reply's blocks too.
        int[] followUp = [.. second, .. expected, 3];
        var d = await Collect(engine.Submit(Request(followUp, 2)));
        Assert.Equal(24, d.Usage.CachedPromptTokens);
        var stats = engine.Stats();
        Assert.Equal(16 + 16 + 24, stats.CachedPromptTokens);
        Assert.True(stats.PrefixCacheEntries >= 3);
        Assert.Equal(stats.PrefixCacheEntries * 8 * KvCache.BytesPerToken(model.Config, 4), stats.PrefixCacheBytes);
    }

    [Fact]
    public async Task CancellingARunningRequestFreesItsSlotForTheQueue()
    {
        var cfg = TestModels.Mha() with { MaxPositionEmbeddings = 512 };
        using var model = new Transformer(cfg, seed: 3);
        using var engine = new GenerationEngine(model, new EngineOptions { MaxBatchSize = 1 });
        using var cts = new CancellationTokenSource();
        var long1 = engine.Submit(Request(Prompt(1, 4, 64), 500), cts.Token);
        Assert.True(await long1.Tokens.WaitToReadAsync());
        var waiting = engine.Submit(Request(Prompt(2, 4, 64), 3));
        Assert.Equal(1, engine.Stats().Queued);
        Assert.Equal(1, engine.Stats().Running);
        cts.Cancel();
        var (tokens, usage) = await Collect(long1);
        Assert.Equal(FinishReason.Cancelled, usage.FinishReason);
        Assert.True(tokens.Length < 500);
        var next = await Collect(waiting).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(3, next.Tokens.Length);
        Assert.Equal(0, engine.Stats().Queued);
    }

    [Fact]
    public async Task ARequestCancelledWhileQueuedNeverRuns()
    {
        var cfg = TestModels.Mha() with { MaxPositionEmbeddings = 512 };
        using var model = new Transformer(cfg, seed: 3);
        using var engine = new GenerationEngine(model, new EngineOptions { MaxBatchSize = 1 });
        using var stopFirst = new CancellationTokenSource();
        using var stopQueued = new CancellationTokenSource();
        var first = engine.Submit(Request(Prompt(1, 4, 64), 500), stopFirst.Token);
        Assert.True(await first.Tokens.WaitToReadAsync());
        var queued = engine.Submit(Request(Prompt(2, 4, 64), 5), stopQueued.Token);
        stopQueued.Cancel();
        var (tokens, usage) = await Collect(queued).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Empty(tokens);
        Assert.Equal(new GenerationUsage(4, 0, 0, FinishReason.Cancelled), usage);
        stopFirst.Cancel();
        await Collect(first);
    }

    [Fact]
    public void InvalidRequestsThrowNamingTheField()
    {
        using var model = new Transformer(TestModels.Mla(), seed: 3);
        using var engine = new GenerationEngine(model);
        void Fails(GenerationRequest r, string field) =>
            Assert.StartsWith(field, Assert.Throws<SeekSharpException>(() => engine.Submit(r)).Message);
        Fails(Request([], 5), "prompt");
        Fails(Request([1, 64], 5), "prompt");
        Fails(Request([1, -2], 5), "prompt");
        Fails(Request(Prompt(1, 64, 64), 5), "prompt");
        Fails(Request([1, 2], 0), "max_tokens");
        Fails(Request([1, 2], 5, new SamplingOptions(Temperature: -1)), "temperature");
        Fails(Request([1, 2], 5, new SamplingOptions(TopP: 0)), "top_p");
        Assert.Equal(0, engine.Stats().Queued);
        Assert.Equal(0, engine.Stats().PromptTokens);
    }

    [Fact]
    public async Task ManyConcurrentRequestsAllComplete()
    {
        using var model = new Transformer(TestModels.Mla(), seed: 3);
        using var engine = new GenerationEngine(model, new EngineOptions { MaxBatchSize = 6, PrefixBlockSize = 4 });
        var sampled = new SamplingOptions(Temperature: 1.0);
        var results = await Task.WhenAll(Enumerable.Range(0, 40).Select(i => Task.Run(() =>
            Collect(engine.Submit(Request(Prompt(i % 7, 3 + i % 11, 64), 1 + i % 9, sampled, seed: i))))));
        for (int i = 0; i < results.Length; i++)
        {
            Assert.Equal(1 + i % 9, results[i].Tokens.Length);
            Assert.Equal(FinishReason.Length, results[i].Usage.FinishReason);
        }
        var stats = engine.Stats();
        Assert.Equal(0, stats.Running);
        Assert.Equal(0, stats.Queued);
        Assert.Equal(results.Sum(r => r.Tokens.Length), stats.CompletionTokens);
        Assert.True(stats.CachedPromptTokens > 0); // prompts repeat every 7 requests
    }

    [Theory]
    [InlineData("fp32", false)]
    [InlineData("fp32", true)]
    [InlineData("bf16", false)]
    public async Task EachRequestGetsTheSameTokensAloneAndAmongManyOthers(string precision, bool groupPrefill)
    {
        // The README's promise (docs/decisions/0011): a request's tokens do not depend on what else runs. Here 16
        // distinct requests (lengths 8..40, greedy and sampled) are admitted together while a 17th decodes and are
        // decoded as one batch; each must get exactly what it gets when it runs alone. Prefilled in padded groups (the
        // MoE then takes its dispatch path over more than 64 tokens), this holds in fp32 only: in bf16 a group rounds
        // differently from a prompt alone, which is why the engine prefills each prompt alone by default. Untied
        // embeddings: a random tied model just repeats its last token, which would hide any difference.
        using var model = new Transformer(PoisonedModel.Untied(Presets.Get("tiny")), seed: 1); // vocab 1024: near-ties to flip
        model.SetComputeType(precision == "bf16" ? TorchSharp.torch.ScalarType.BFloat16 : TorchSharp.torch.ScalarType.Float32);
        var options = new EngineOptions { MaxBatchSize = 32, GroupPrefill = groupPrefill };
        var sampled = new SamplingOptions(Temperature: 1.0, TopP: 0.9);
        var requests = Enumerable.Range(0, 16).Select(i => Request(Prompt(20 + i, 8 + i * 7 % 33, 1024), 48, i % 4 == 3 ? sampled : Greedy, seed: i)).ToArray();
        var alone = new List<int[]>();
        using (var single = new GenerationEngine(model, options))
            foreach (var r in requests) alone.Add((await Collect(single.Submit(r))).Tokens);
        Assert.True(alone.SelectMany(t => t).Distinct().Count() > 16, "the outputs are degenerate");

        using var engine = new GenerationEngine(model, options);
        using var stopBusy = new CancellationTokenSource();
        var busy = engine.Submit(Request(Prompt(9, 5, 1024), 100), stopBusy.Token);
        Assert.True(await busy.Tokens.WaitToReadAsync());
        var handles = requests.Select(r => engine.Submit(r)).ToArray();
        var together = await Task.WhenAll(handles.Select(Collect));
        stopBusy.Cancel();
        await Collect(busy);
        for (int i = 0; i < requests.Length; i++) Assert.Equal(alone[i], together[i].Tokens);
        var stats = engine.Stats();
        Assert.True(stats.DecodeRows > 4 * stats.DecodeSteps, $"mean batch {(double)stats.DecodeRows / stats.DecodeSteps:F1}: too little was batched");
    }

    [Fact]
    public async Task ARequestWhoseLogitsAreNaNFailsAloneAndTheEngineServesOn()
    {
        // A token X is poisoned (NaN embedding row). Request B reaches X as its 3rd greedy token, so its 4th logits are
        // NaN in a batched decode step; request C has X in its prompt, so its very first logits (from the prefill) are
        // NaN, and it samples (temperature and top_p < 1, the path that used to throw IndexOutOfRangeException and kill
        // the decode thread). A, which never meets X, decodes in the same batch and must get its tokens all the same.
        using var model = new Transformer(PoisonedModel.Untied(TestModels.Mla()) with { MaxPositionEmbeddings = 512 }, seed: 3);
        var a = Prompt(1, 5, 64);
        var outA = PoisonedModel.Greedy(model, a, 450);
        int[] b = [], outB = [];
        int x = -1;
        for (int s = 2; x < 0; s++)
        {
            Assert.True(s < 200, "no prompt reaches a token that A never meets");
            b = Prompt(s, 4, 64);
            outB = PoisonedModel.Greedy(model, b, 3);
            if (!a.Contains(outB[2]) && !outA.Contains(outB[2]) && !b.Contains(outB[2]) && !outB[..2].Contains(outB[2])) x = outB[2];
        }
        int[] c = [.. Prompt(99, 3, 64).Select(t => t == x ? 1 : t), x, 2];
        PoisonedModel.Poison(model, x);

        using var engine = new GenerationEngine(model, new EngineOptions { MaxBatchSize = 4 });
        using var stopA = new CancellationTokenSource();
        var handleA = engine.Submit(Request(a, 450), stopA.Token);
        Assert.True(await handleA.Tokens.WaitToReadAsync()); // A is running: B and C join its batch
        var handleB = engine.Submit(Request(b, 10));
        var handleC = engine.Submit(Request(c, 10, new SamplingOptions(Temperature: 0.9, TopP: 0.9), seed: 5));
        var failedB = await Assert.ThrowsAsync<InvalidLogitsException>(() => Collect(handleB));
        var failedC = await Assert.ThrowsAsync<InvalidLogitsException>(() => Collect(handleC));
        Assert.Equal(4, failedB.Token);
        Assert.Equal(1, failedC.Token);
        await Assert.ThrowsAsync<InvalidLogitsException>(() => handleB.Completion);

        stopA.Cancel(); // A decoded on meanwhile, unharmed: every token it got is the clean model's
        var (tokensA, _) = await Collect(handleA);
        Assert.True(tokensA.Length > 4, $"A got {tokensA.Length} tokens");
        Assert.Equal(outA[..tokensA.Length], tokensA);
        Assert.True(engine.Stats().DecodeRows > engine.Stats().DecodeSteps, "A never shared a decode step with B");

        // The thread is alive and its rows are free: new requests, clean and poisoned, are served as before.
        Assert.Equal(outA[..6], (await Collect(engine.Submit(Request(a, 6)))).Tokens);
        await Assert.ThrowsAsync<InvalidLogitsException>(() => Collect(engine.Submit(Request(c, 3))));
        var again = await Collect(engine.Submit(Request(b, 2)));
        Assert.Equal(outB[..2], again.Tokens);
        Assert.Equal(0, engine.Stats().Running);
    }

    [Fact]
    public async Task TheRowOfAFailedRequestIsCleanForTheNextOne()
    {
        // Two slots. L decodes in row 0 with a long prompt; C's 30-token prompt holds the poisoned token, so C fails
        // and leaves NaN keys in row 1; G, shorter, is admitted into row 1 and decodes next to L, so every step reads
        // row 1 up to L's length: positions C wrote and G never does. Masked, they must still not reach G.
        using var model = new Transformer(PoisonedModel.Untied(TestModels.Mla()) with { MaxPositionEmbeddings = 512 }, seed: 3);
        var l = Prompt(31, 40, 64);
        var g = Prompt(32, 5, 64);
        var outL = PoisonedModel.Greedy(model, l, 120);
        var outG = PoisonedModel.Greedy(model, g, 8);
        int x = Enumerable.Range(1, 63).First(t => !l.Contains(t) && !outL.Contains(t) && !g.Contains(t) && !outG.Contains(t));
        int[] c = [.. Prompt(33, 29, 64).Select(t => t == x ? 1 : t), x];
        PoisonedModel.Poison(model, x);

        using var engine = new GenerationEngine(model, new EngineOptions { MaxBatchSize = 2, PrefixCacheBytes = 0 });
        using var stopL = new CancellationTokenSource();
        var handleL = engine.Submit(Request(l, 120), stopL.Token);
        Assert.True(await handleL.Tokens.WaitToReadAsync());
        await Assert.ThrowsAsync<InvalidLogitsException>(() => Collect(engine.Submit(Request(c, 5))));
        var (tokensG, _) = await Collect(engine.Submit(Request(g, 8)));
        stopL.Cancel();
        var (tokensL, _) = await Collect(handleL);
        Assert.Equal(outG, tokensG);
        Assert.Equal(outL[..tokensL.Length], tokensL);
    }

    [Fact]
    public void SubmittingToADisposedEngineThrows()
    {
        using var model = new Transformer(TestModels.Mla(), seed: 3);
        var engine = new GenerationEngine(model);
        engine.Dispose();
        Assert.Throws<ObjectDisposedException>(() => engine.Submit(Request([1, 2], 2)));
    }
}
