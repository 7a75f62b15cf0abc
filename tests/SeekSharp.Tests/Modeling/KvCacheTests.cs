using SeekSharp.Inference;
using SeekSharp.Modeling;
using SeekSharp.Serving;
using static TorchSharp.torch;

namespace SeekSharp.Tests.Modeling;

// The KV cache takes memory as sequences reach positions (KvCache.Prepare): its buffers are never zeroed as a whole,
// so what a batch reads past a short row's length must be made finite before it is read.
public class KvCacheTests
{
    static Tensor Ids(int t, int seed)
    {
        var rng = new Random(seed);
        return tensor(Enumerable.Range(0, t).Select(_ => (long)rng.Next(1, 64)).ToArray()).view(1, t);
    }

    /// <summary>Row 0 prefilled with 9 tokens, row 1 with 3, then one batched decode step: row 1 reads keys up to row
    /// 0's length, past its own. Returns that step's logits (2, 1, V).</summary>
    static Tensor RaggedStep(Transformer model, KvCache cache)
    {
        using (var r0 = cache.Slice(0, 1)) model.Forward(Ids(9, 1), 0, r0);
        using (var r1 = cache.Slice(1, 1)) model.Forward(Ids(3, 2), 0, r1);
        using var rows = new RowPositions([9, 3], 1);
        return model.Forward(tensor(new long[] { 5, 7 }).view(2, 1), new Positions(0, rows), cache).Logits;
    }

    [Theory]
    [InlineData("mla", false)]
    [InlineData("mha", false)]
    [InlineData("mla", true)]   // frozen bf16: the fused decode path
    public void PositionsNeverWrittenAreReadAsZeros(string kind, bool fused)
    {
        var cfg = kind == "mla" ? TestModels.Mla() : TestModels.Mha(moe: true);
        using var model = new Transformer(cfg, seed: 3);
        if (fused) model.SetComputeType(ScalarType.BFloat16).Freeze();
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var dtype = model.ComputeType;
        using var clean = new KvCache(cfg, 2, 64, dtype);
        foreach (var l in clean.Layers) { l.A.zero_(); l.B.zero_(); } // what the cache used to be: zeros everywhere
        var expected = RaggedStep(model, clean);
        // The memory a new cache gets may hold anything, NaN included (recycled heap pages).
        using var stale = new KvCache(cfg, 2, 64, dtype);
        foreach (var l in stale.Layers) { l.A.fill_(double.NaN); l.B.fill_(double.NaN); }
        var got = RaggedStep(model, stale);
        Assert.True(got.isfinite().all().item<bool>(), "a stale position was read as NaN");
        Assert.True(got.equal(expected).all().item<bool>());
    }

    [Fact]
    public void RowsTakePositionsAsTheyReachThemInChunks()
    {
        var cfg = TestModels.Mla() with { MaxPositionEmbeddings = 256 };
        using var model = new Transformer(cfg, seed: 3);
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        using var cache = new KvCache(cfg, 4, 256, ScalarType.Float32);
        Assert.All(Enumerable.Range(0, 4), r => Assert.Equal(0, cache.FiniteLength(r)));
        using (var row2 = cache.Slice(2, 1))
        {
            model.Forward(Ids(5, 1), 0, row2);
            Assert.Equal(KvCache.ZeroChunk, cache.FiniteLength(2));
            model.Forward(Ids(KvCache.ZeroChunk, 2), 5, row2);          // keys up to 69: the next chunk
            Assert.Equal(2 * KvCache.ZeroChunk, cache.FiniteLength(2));
        }
        Assert.Equal([0, 0, 2 * KvCache.ZeroChunk, 0], Enumerable.Range(0, 4).Select(cache.FiniteLength));
        cache.Forget(2);
        Assert.Equal(0, cache.FiniteLength(2));
        // Never past the cache's length.
        using var shortCache = new KvCache(cfg, 1, 70, ScalarType.Float32);
        model.Forward(Ids(66, 3), 0, shortCache);
        Assert.Equal(70, shortCache.FiniteLength(0));
    }

    [Fact]
    public void WhatWasWrittenOutsideAForwardIsNotZeroedAway()
    {
        var cfg = TestModels.Mla();
        using var model = new Transformer(cfg, seed: 3);
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        using var cache = new KvCache(cfg, 2, 64, ScalarType.Float32);
        using (var r0 = cache.Slice(0, 1)) model.Forward(Ids(8, 1), 0, r0);
        cache.CopyRow(0, 1, 8);                                  // as the engine moves a sequence
        Assert.Equal(8, cache.FiniteLength(1));
        var copied = cache.Layers[0].A.narrow(0, 1, 1).narrow(1, 0, 8).clone();
        Assert.True(copied.abs().sum().item<float>() > 0);
        using (var r1 = cache.Slice(1, 1)) model.Forward(Ids(1, 4), 8, r1);
        Assert.True(cache.Layers[0].A.narrow(0, 1, 1).narrow(1, 0, 8).equal(copied).all().item<bool>());
        cache.MarkWritten(0, 3);                                 // a restored prefix shorter than what is there: kept
        Assert.Equal(KvCache.ZeroChunk, cache.FiniteLength(0));
    }

    [Fact]
    public async Task AnEngineTakesSlotMemoryForWhatItsSequencesReach()
    {
        var cfg = TestModels.Mla() with { MaxPositionEmbeddings = 256 };
        using var model = new Transformer(cfg, seed: 3);
        using var engine = new GenerationEngine(model, new EngineOptions { MaxBatchSize = 8, PrefixCacheBytes = 0 });
        long perToken = KvCache.BytesPerToken(cfg, 4);
        Assert.Equal(0, engine.Stats().KvSlotBytes);
        Assert.Equal(8L * 256 * perToken, engine.Stats().KvSlotCapacityBytes);
        var h = engine.Submit(new GenerationRequest([1, 2, 3], 10, new SamplingOptions(Temperature: 0), 0, new HashSet<int>()));
        await foreach (var _ in h.Tokens.ReadAllAsync()) { }
        await h.Completion;
        Assert.Equal(KvCache.ZeroChunk * perToken, engine.Stats().KvSlotBytes); // one row, 13 positions: one chunk
    }
}
