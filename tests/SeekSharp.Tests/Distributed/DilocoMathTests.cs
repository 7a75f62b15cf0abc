using System.Security.Cryptography;
using SeekSharp.Distributed;

namespace SeekSharp.Tests.Distributed;

public class DilocoMathTests
{
    [Fact]
    public void OuterStepIsTorchsNesterovSgdOnTheTokenWeightedMean()
    {
        // Two workers: Δ1 = [1, -2] over 100 tokens, Δ2 = [4, 2] over 300 tokens → mean [3.25, 1].
        var mean = OuterStep.Average([([1f, -2f], 100), ([4f, 2f], 300)]);
        Assert.Equal([3.25f, 1f], mean);
        var outer = new OuterStep(2, lr: 0.7, momentum: 0.9);
        // Step 1: m = Δ; change = -0.7 (Δ + 0.9 m) = -0.7 · 1.9 Δ.
        var c1 = outer.Change(mean);
        Assert.Equal(-0.7f * (3.25f + 0.9f * 3.25f), c1[0], 5);
        Assert.Equal(-0.7f * 1.9f, c1[1], 5);
        // Step 2 with Δ' = [1, 0]: m = 0.9 m + Δ' = [3.925, 0.9]; change = -0.7 (Δ' + 0.9 m).
        var c2 = outer.Change([1f, 0f]);
        Assert.Equal(3.925f, outer.Momentum[0], 5);
        Assert.Equal(-0.7f * (1f + 0.9f * 3.925f), c2[0], 5);
        Assert.Equal(-0.7f * (0.9f * 0.9f), c2[1], 5);
        Assert.Throws<ArgumentException>(() => outer.Change([1f]));
    }

    [Fact]
    public void Int8CodesEachBlockWithinHalfAStepAndRefusesDamage()
    {
        var rng = new Random(5);
        var x = Enumerable.Range(0, 1000).Select(i => (float)(rng.NextDouble() - 0.5) * (i < 256 ? 100f : 0.01f)).ToArray();
        var payload = Codecs.Encode(Codecs.Int8, x);
        Assert.Equal(1000 + 4 * 4, payload.Length);               // 4 blocks of ≤ 256, one fp32 scale each
        var y = new float[x.Length];
        Assert.Null(Codecs.TryDecode(Codecs.Int8, payload, y));
        for (int b = 0; b < 4; b++)
        {
            var block = x.Skip(b * 256).Take(256).ToArray();
            float step = block.Max(MathF.Abs) / 127f;               // per-block: the small blocks keep their precision
            for (int i = 0; i < block.Length; i++) Assert.InRange(Math.Abs(y[b * 256 + i] - block[i]), 0, step / 2 + 1e-7);
        }
        Assert.Contains("expected", Codecs.TryDecode(Codecs.Int8, payload[..^1], y));          // wrong shape
        x[700] = float.NaN;
        Assert.Contains("scale", Codecs.TryDecode(Codecs.Int8, Codecs.Encode(Codecs.Int8, x), y)); // NaN: refused at decode
    }

    [Fact]
    public void ErrorFeedbackCarriesWhatInt8CouldNotSay()
    {
        // The same small vector every round, beside one large value that sets the block's scale: alone, int8 rounds the
        // small values to 0 every time; with error feedback their sum over rounds comes through within one step.
        var x = new float[256];
        x[0] = 127f;
        for (int i = 1; i < x.Length; i++) x[i] = 0.3f;
        var fb = new ErrorFeedback(x.Length);
        var sum = new double[x.Length];
        for (int round = 0; round < 10; round++)
        {
            var (_, decoded) = fb.Encode(Codecs.Int8, x);
            for (int i = 0; i < x.Length; i++) sum[i] += decoded[i];
        }
        var plain = new float[x.Length];
        Codecs.TryDecode(Codecs.Int8, Codecs.Encode(Codecs.Int8, x), plain);
        Assert.Equal(0f, plain[5]);
        Assert.InRange(sum[5], 3.0 - 1.0, 3.0 + 1.0);          // 10 × 0.3, within one step (scale 1)
        Assert.All(fb.Residual, r => Assert.InRange(Math.Abs(r), 0, 0.5f + 1e-6f));
    }

    [Fact]
    public void ChunksCarryChecksumsAndTheWholeIsChecked()
    {
        var payload = RandomNumberGenerator.GetBytes(2_500_000);
        int count = Chunks.Count(payload.Length, Chunks.DefaultBytes);
        Assert.Equal(3, count);
        var asm = new ChunkAssembler(count, payload.Length);
        var chunks = Enumerable.Range(0, count).Select(i => Chunks.Slice(payload, i, Chunks.DefaultBytes)).ToList();
        Assert.All(chunks, c => Assert.InRange(c.Data.Length, 1, 4 << 20));
        var damaged = chunks[1] with { Data = (byte[])chunks[1].Data.Clone() };
        damaged.Data[77] ^= 1;
        Assert.False(asm.Add(damaged));
        Assert.Contains("missing", asm.Assemble(SHA256.HashData(payload)).Problem);
        foreach (var c in chunks.AsEnumerable().Reverse()) Assert.True(asm.Add(c));   // any order
        var (whole, problem) = asm.Assemble(SHA256.HashData(payload));
        Assert.Null(problem);
        Assert.Equal(payload, whole);
        Assert.Equal("payload checksum mismatch", asm.Assemble(new byte[32]).Problem);
        Assert.False(asm.Add(chunks[0] with { Index = 3 }));
    }

    [Theory]
    [InlineData(1_000_000L, 2)]
    [InlineData(1_000_000L, 4)]
    [InlineData(40_000L, 3)]
    public void InterleavedShardsAreEqualDisjointAndSpanTheWholeSplit(long tokens, int parts)
    {
        var shards = Enumerable.Range(0, parts).Select(k => DataShards.Ranges(tokens, parts, k, DataShards.Interleaved).ToList()).ToList();
        var sizes = shards.Select(r => r.Sum(x => x.End - x.Start)).ToList();
        Assert.All(sizes, s => Assert.Equal(sizes[0], s));
        var all = shards.SelectMany(r => r).OrderBy(r => r.Start).ToList();
        for (int i = 1; i < all.Count; i++) Assert.Equal(all[i - 1].End, all[i].Start);       // disjoint, no gap
        Assert.Equal(0, all[0].Start);
        Assert.True(all[^1].End > tokens - parts * DataShards.BlockTokens(tokens, parts), "at most one round of blocks left out");
        // Each shard reaches from the first part of the split to the last, as a sample of the whole mix does
        // (a contiguous shard 0 stops at 1/M).
        Assert.All(shards, r => Assert.True(r[0].Start < tokens / 8 && r[^1].End > tokens * 7 / 8));
        Assert.Equal([(0L, tokens / parts)], DataShards.Ranges(tokens, parts, 0, DataShards.Contiguous));
        Assert.Throws<SeekSharpException>(() => DataShards.Ranges(tokens, parts, 0, "random").ToList());
    }
}
