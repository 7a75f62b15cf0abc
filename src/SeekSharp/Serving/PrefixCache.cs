using SeekSharp.Modeling;
using static TorchSharp.torch;

namespace SeekSharp.Serving;

// Context caching as DeepSeek's API does it: keys and values of prompt prefixes that were seen before are
// kept and copied into a new request's cache slot, so only the rest of its prompt is prefilled. Prefixes
// are matched in whole blocks of BlockSize tokens. A block is identified by its parent block and its own
// tokens (compared exactly, no hash collisions), so a block stands for the whole prefix that ends with
// it, as in vLLM's chained block hashes. Memory is bounded in bytes; the least recently used block goes
// first. Every use touches a chain from its deepest block back to the root, so a parent is always more
// recent than its children and eviction takes leaves before the prefixes they extend.
// See docs/decisions/0007-serving-engine.md. Used by the engine's decode thread only.

/// <summary>LRU store of KV blocks for token prefixes.</summary>
public sealed class PrefixCache : IDisposable
{
    readonly Dictionary<BlockKey, Block> blocks = [];
    readonly LinkedList<Block> lru = new(); // first = most recently used
    readonly long maxBytes;
    long nextId = 1, bytes, entries;

    /// <param name="blockSize">Tokens per block: the granularity of matching.</param>
    /// <param name="maxBytes">Upper bound on stored KV bytes; 0 disables caching.</param>
    /// <param name="bytesPerToken">KV bytes of one token over all layers, in the cache's dtype.</param>
    public PrefixCache(int blockSize, long maxBytes, long bytesPerToken)
    {
        if (blockSize < 1) throw new SeekSharpException($"prefix cache block size: expected 1 or more, got {blockSize}.");
        if (maxBytes < 0) throw new SeekSharpException($"prefix cache bytes: expected 0 or more, got {maxBytes}.");
        BlockSize = blockSize;
        this.maxBytes = maxBytes;
        BlockBytes = bytesPerToken * blockSize;
    }

    public int BlockSize { get; }
    /// <summary>Bytes one block holds.</summary>
    public long BlockBytes { get; }
    public long Bytes => Interlocked.Read(ref bytes);
    /// <summary>Blocks stored.</summary>
    public long Entries => Interlocked.Read(ref entries);

    /// <summary>Copies the longest cached prefix of <paramref name="tokens"/>, at most <paramref name="maxTokens"/>
    /// long, into row <paramref name="row"/> of <paramref name="cache"/>.</summary>
    /// <returns>Tokens copied (a multiple of <see cref="BlockSize"/>).</returns>
    public int Restore(IReadOnlyList<int> tokens, int maxTokens, KvCache cache, int row)
    {
        var chain = new List<Block>();
        long parent = 0;
        for (int i = 0; (i + 1) * BlockSize <= Math.Min(maxTokens, tokens.Count); i++)
        {
            if (!blocks.TryGetValue(new BlockKey(parent, Slice(tokens, i)), out var block)) break;
            chain.Add(block);
            parent = block.Id;
        }
        if (chain.Count == 0) return 0;
        using (var scope = NewDisposeScope())
            for (int i = 0; i < chain.Count; i++)
                for (int l = 0; l < cache.Layers.Length; l++)
                {
                    var layer = cache.Layers[l];
                    int d = layer.TimeDim;
                    layer.A.narrow(0, row, 1).narrow(d, i * BlockSize, BlockSize).copy_(chain[i].A[l]);
                    layer.B.narrow(0, row, 1).narrow(d, i * BlockSize, BlockSize).copy_(chain[i].B[l]);
                }
        cache.MarkWritten(row, chain.Count * BlockSize);
        Touch(chain);
        return chain.Count * BlockSize;
    }

    /// <summary>Stores every whole block of the first <paramref name="length"/> tokens, whose keys and values are
    /// in row <paramref name="row"/> of <paramref name="cache"/>; blocks already stored are only touched.</summary>
    public void Store(IReadOnlyList<int> tokens, int length, KvCache cache, int row)
    {
        if (BlockBytes > maxBytes) return;
        var chain = new List<Block>();
        long parent = 0;
        try
        {
            for (int i = 0; (i + 1) * BlockSize <= Math.Min(length, tokens.Count); i++)
            {
                var key = new BlockKey(parent, Slice(tokens, i));
                if (!blocks.TryGetValue(key, out var block))
                {
                    // The chain being stored is pinned: eviction must not take the parent of the new block.
                    foreach (var b in chain) b.Pinned = true;
                    if (!MakeRoom()) break;
                    block = Copy(key, cache, row, i);
                    block.Node = lru.AddFirst(block);
                    blocks.Add(key, block);
                    Interlocked.Add(ref bytes, BlockBytes);
                    Interlocked.Increment(ref entries);
                }
                chain.Add(block);
                parent = block.Id;
            }
        }
        finally
        {
            foreach (var b in chain) b.Pinned = false;
        }
        Touch(chain);
    }

    Block Copy(BlockKey key, KvCache cache, int row, int index)
    {
        using var scope = NewDisposeScope();
        var a = new Tensor[cache.Layers.Length];
        var b = new Tensor[cache.Layers.Length];
        for (int l = 0; l < a.Length; l++)
        {
            var layer = cache.Layers[l];
            int d = layer.TimeDim;
            a[l] = layer.A.narrow(0, row, 1).narrow(d, index * BlockSize, BlockSize).clone().DetachFromDisposeScope();
            b[l] = layer.B.narrow(0, row, 1).narrow(d, index * BlockSize, BlockSize).clone().DetachFromDisposeScope();
        }
        return new Block(nextId++, key, a, b);
    }

    /// <summary>Evicts least recently used blocks until one more fits; false when only pinned ones are left.</summary>
    bool MakeRoom()
    {
        var node = lru.Last;
        while (bytes + BlockBytes > maxBytes)
        {
            while (node is not null && node.Value.Pinned) node = node.Previous;
            if (node is null) return false;
            var victim = node.Value;
            node = node.Previous;
            Evict(victim);
        }
        return true;
    }

    void Evict(Block block)
    {
        lru.Remove(block.Node!);
        blocks.Remove(block.Key);
        block.Dispose();
        Interlocked.Add(ref bytes, -BlockBytes);
        Interlocked.Decrement(ref entries);
    }

    /// <summary>Marks a chain used, deepest block first, so each parent ends up more recent than its children.</summary>
    void Touch(List<Block> chain)
    {
        for (int i = chain.Count - 1; i >= 0; i--)
        {
            lru.Remove(chain[i].Node!);
            lru.AddFirst(chain[i].Node!);
        }
    }

    int[] Slice(IReadOnlyList<int> tokens, int block)
    {
        var s = new int[BlockSize];
        for (int j = 0; j < BlockSize; j++) s[j] = tokens[block * BlockSize + j];
        return s;
    }

    public void Dispose()
    {
        foreach (var b in blocks.Values) b.Dispose();
        blocks.Clear();
        lru.Clear();
        Interlocked.Exchange(ref bytes, 0);
        Interlocked.Exchange(ref entries, 0);
    }

    /// <summary>A block is named by its parent block's id and its own tokens.</summary>
    readonly struct BlockKey(long parent, int[] tokens) : IEquatable<BlockKey>
    {
        readonly long parent = parent;
        readonly int[] tokens = tokens;

        public bool Equals(BlockKey other) => parent == other.parent && tokens.AsSpan().SequenceEqual(other.tokens);
        public override bool Equals(object? obj) => obj is BlockKey k && Equals(k);

        public override int GetHashCode()
        {
            var h = new HashCode();
            h.Add(parent);
            h.AddBytes(System.Runtime.InteropServices.MemoryMarshal.AsBytes(tokens.AsSpan()));
            return h.ToHashCode();
        }
    }

    /// <summary>Keys and values of BlockSize positions, one (A, B) pair per layer, shaped like a cache row.</summary>
    sealed class Block(long id, BlockKey key, Tensor[] a, Tensor[] b) : IDisposable
    {
        public long Id { get; } = id;
        public BlockKey Key { get; } = key;
        public Tensor[] A { get; } = a;
        public Tensor[] B { get; } = b;
        public LinkedListNode<Block>? Node { get; set; }
        public bool Pinned { get; set; }

        public void Dispose()
        {
            foreach (var t in A) t.Dispose();
            foreach (var t in B) t.Dispose();
        }
    }
}
