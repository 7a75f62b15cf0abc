using SeekSharp.Modeling;
using SeekSharp.Serving;
using SeekSharp.Tests.Modeling;
using static TorchSharp.torch;

namespace SeekSharp.Tests.Serving;

public class PrefixCacheTests
{
    const int Block = 4;

    static Tensor Ids(IEnumerable<int> ids) => tensor(ids.Select(i => (long)i).ToArray()).unsqueeze(0);

    /// <summary>Prefills <paramref name="tokens"/> into row 0 of a fresh cache and stores its blocks.</summary>
    static void Remember(Transformer model, PrefixCache prefix, int[] tokens)
    {
        using var cache = new KvCache(model.Config, 1, 32, ScalarType.Float32);
        using var scope = NewDisposeScope();
        model.ForwardLast(Ids(tokens), 0, cache);
        prefix.Store(tokens, tokens.Length, cache, 0);
    }

    static int Hit(Transformer model, PrefixCache prefix, int[] tokens)
    {
        using var cache = new KvCache(model.Config, 1, 32, ScalarType.Float32);
        return prefix.Restore(tokens, tokens.Length, cache, 0);
    }

    [Theory]
    [InlineData("mla")]
    [InlineData("mha")]
    public void RestoredKvGivesTheLogitsOfARecomputation(string kind)
    {
        using var model = new Transformer(kind == "mla" ? TestModels.Mla() : TestModels.Mha(moe: true), seed: 9);
        using var _ = no_grad();
        using var prefix = new PrefixCache(Block, 1 << 20, KvCache.BytesPerToken(model.Config, 4));
        int[] earlier = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5];
        int[] later = [3, 1, 4, 1, 5, 9, 2, 6, 8, 8, 7, 1, 2];
        Remember(model, prefix, earlier);
        Assert.Equal(2, prefix.Entries); // two whole blocks of 11 tokens

        using var scope = NewDisposeScope();
        using var slots = new KvCache(model.Config, 3, 32, ScalarType.Float32);
        int cached = prefix.Restore(later, later.Length - 1, slots, 2);
        Assert.Equal(8, cached);
        using var row = slots.Slice(2, 1);
        var reused = model.ForwardLast(Ids(later[cached..]), cached, row);
        var full = model.Forward(Ids(later)).Logits.select(1, later.Length - 1);
        Assert.True(reused.allclose(full, rtol: 1e-4, atol: 1e-5));
    }

    [Fact]
    public void EvictionKeepsTheByteBoundAndDropsTheLeastRecentlyUsed()
    {
        using var model = new Transformer(TestModels.Mha(), seed: 9);
        using var _ = no_grad();
        long perToken = KvCache.BytesPerToken(model.Config, 4);
        using var prefix = new PrefixCache(Block, 3 * Block * perToken + 5, perToken); // room for 3 blocks
        int[] a = [1, 1, 1, 1, 9], b = [2, 2, 2, 2, 9], c = [3, 3, 3, 3, 9], d = [4, 4, 4, 4, 9];
        Remember(model, prefix, a);
        Remember(model, prefix, b);
        Remember(model, prefix, c);
        Assert.Equal(3, prefix.Entries);
        Assert.Equal(Block, Hit(model, prefix, a)); // a is now the most recent, b the least
        Remember(model, prefix, d);
        Assert.Equal(3, prefix.Entries);
        Assert.Equal(3 * Block * perToken, prefix.Bytes);
        Assert.Equal(0, Hit(model, prefix, b));
        Assert.Equal(Block, Hit(model, prefix, a));
        Assert.Equal(Block, Hit(model, prefix, c));
        Assert.Equal(Block, Hit(model, prefix, d));
    }

    [Fact]
    public void EvictionTakesLeavesBeforeThePrefixesTheyExtend()
    {
        using var model = new Transformer(TestModels.Mha(), seed: 9);
        using var _ = no_grad();
        long perToken = KvCache.BytesPerToken(model.Config, 4);
        using var prefix = new PrefixCache(Block, 3 * Block * perToken, perToken);
        int[] longer = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0]; // three chained blocks
        Remember(model, prefix, longer);
        Remember(model, prefix, [7, 7, 7, 7, 0]);               // evicts the chain's last block, not its root
        Assert.Equal(2 * Block, Hit(model, prefix, longer));
        Assert.Equal(Block, Hit(model, prefix, [7, 7, 7, 7, 0]));
    }

    [Fact]
    public void ABoundBelowOneBlockStoresNothing()
    {
        using var model = new Transformer(TestModels.Mha(), seed: 9);
        using var _ = no_grad();
        long perToken = KvCache.BytesPerToken(model.Config, 4);
        using var prefix = new PrefixCache(Block, Block * perToken - 1, perToken);
        Remember(model, prefix, [1, 2, 3, 4, 5, 6, 7, 8, 9]);
        Assert.Equal(0, prefix.Entries);
        Assert.Equal(0, prefix.Bytes);
    }
}
