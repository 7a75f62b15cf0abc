using static TorchSharp.torch;

namespace SeekSharp.Modeling;

// Per-layer key/value storage for incremental decoding. MHA keeps full keys and values per head;
// MLA keeps only the normalized KV latent and the shared RoPE key: (kv_lora_rank + qk_rope_head_dim)
// values per token and layer instead of 2·heads·head_dim, the point of MLA. Buffers are allocated once
// at full length and filled in place, outside every dispose scope. The serving engine uses one cache as a
// pool of slots, one row per running sequence: Slice gives views of rows, writes go to each row's own
// positions (Positions/RowPositions), and CopyRow moves a sequence to another row.
//
// Memory is taken as it is used, not at allocation: the buffers are one uninitialized allocation, whose pages the
// kernel backs only when written, and each row records how many positions hold finite values (`finite`). Before a
// forward reads keys [0, K) (Prepare, from the model), a row below K has its positions up to K, rounded up to
// ZeroChunk, zeroed: a batch reads every row to the longest one's length and masks the rest, but 0 × NaN is NaN, so
// a stale position must hold a number. So a server's slots cost what its sequences reached, not max-batch × the full
// context (docs/decisions/0015). Writes that bypass a forward (CopyRow, the prefix cache's Restore) say what they
// wrote with MarkWritten.

/// <summary>Cache slots of one layer, shaped (B, maxT, ...) .</summary>
public sealed class LayerCache : IDisposable
{
    /// <summary>MHA: keys (B, H, maxT, D). MLA: latent (B, maxT, kv_lora_rank).</summary>
    public Tensor A { get; }
    /// <summary>MHA: values (B, H, maxT, D). MLA: rotated shared key (B, maxT, qk_rope_head_dim).</summary>
    public Tensor B { get; }

    internal LayerCache(Tensor a, Tensor b) { A = a.DetachFromDisposeScope(); B = b.DetachFromDisposeScope(); }

    /// <summary>Stores the new entries <paramref name="a"/>, <paramref name="b"/> (shaped like A and B with T new
    /// positions) at their positions and returns views of the first <see cref="Positions.KeyLength"/> cached ones.</summary>
    /// <summary>The position axis of A and B: 2 for MHA's (B, H, T, D), 1 for MLA's (B, T, C).</summary>
    public int TimeDim => A.dim() == 4 ? 2 : 1;

    public (Tensor A, Tensor B) Append(Tensor a, Tensor b, Positions pos)
    {
        int timeDim = TimeDim;
        long t = a.shape[timeDim];
        Store(A, a, timeDim, pos);
        Store(B, b, timeDim, pos);
        int keys = pos.KeyLength(t);
        return (A.narrow(timeDim, 0, keys), B.narrow(timeDim, 0, keys));
    }

    static void Store(Tensor buffer, Tensor values, int timeDim, Positions pos)
    {
        var rows = pos.Rows;
        if (rows is null) { buffer.narrow(timeDim, pos.Start, values.shape[timeDim]).copy_(values); return; }
        // Row b's tokens go to (b, rows.Index[b, :]): one scatter for the whole batch.
        var r = TensorIndex.Tensor(rows.Rows);
        var p = TensorIndex.Tensor(rows.Index);
        if (timeDim == 1) buffer.index_put_(values, r, p);
        else
        {
            // Advanced indices around a slice put their (B, T) shape first: the value is (B, T, H, D).
            using var v = values.transpose(1, 2);
            buffer.index_put_(v, r, TensorIndex.Colon, p);
        }
    }

    public void Dispose() { A.Dispose(); B.Dispose(); }
}

/// <summary>The whole model's cache for a batch of sequences (advancing together, or each at its own position).</summary>
public sealed class KvCache : IDisposable
{
    /// <summary>Positions zeroed at once when a row must be made finite further: a decode step would otherwise zero
    /// one position per short row and layer, dozens of tiny calls a step.</summary>
    public const int ZeroChunk = 64;

    public LayerCache[] Layers { get; }
    public int BatchSize { get; }
    public int MaxLength { get; }
    /// <summary>Positions already filled (the next token's position).</summary>
    public int Length { get; set; }

    readonly int[] finite;   // per row of the whole cache: positions [0, finite[r]) hold finite values (shared by slices)
    readonly int firstRow;   // this view's row 0 in the whole cache
    readonly Tensor? storage; // the whole cache's one allocation (null in a slice)

    KvCache(LayerCache[] layers, int batchSize, int maxLength, int[] finite, int firstRow)
    {
        Layers = layers;
        BatchSize = batchSize;
        MaxLength = maxLength;
        this.finite = finite;
        this.firstRow = firstRow;
    }

    /// <param name="mtpLayers">Layers after the main model's, for MTP modules drafting (speculative decoding).</param>
    public KvCache(ModelConfig cfg, int batchSize, int maxLength, ScalarType dtype, Device? device = null, int mtpLayers = 0)
    {
        if (maxLength > cfg.MaxPositionEmbeddings)
            throw new SeekSharpException($"cache length {maxLength} exceeds max_position_embeddings ({cfg.MaxPositionEmbeddings}).");
        BatchSize = batchSize;
        MaxLength = maxLength;
        finite = new int[batchSize];
        long[] shapeA = cfg.IsMla ? [batchSize, maxLength, cfg.KvLoraRank] : [batchSize, cfg.NumAttentionHeads, maxLength, cfg.QkRopeHeadDim];
        long[] shapeB = cfg.IsMla ? [batchSize, maxLength, cfg.QkRopeHeadDim] : [batchSize, cfg.NumAttentionHeads, maxLength, cfg.VHeadDim];
        long a = shapeA.Aggregate(1L, (x, y) => x * y), b = shapeB.Aggregate(1L, (x, y) => x * y);
        Layers = new LayerCache[cfg.NumHiddenLayers + mtpLayers];
        using var scope = NewDisposeScope();
        storage = empty(Layers.Length * (a + b), dtype, device).DetachFromDisposeScope();
        for (int i = 0; i < Layers.Length; i++)
            Layers[i] = new LayerCache(storage.narrow(0, i * (a + b), a).view(shapeA), storage.narrow(0, i * (a + b) + a, b).view(shapeB));
    }

    /// <summary>Makes every row of this view finite at the positions a forward of <paramref name="t"/> new tokens at
    /// <paramref name="pos"/> reads (zeroes what was never written, ZeroChunk positions at a time). The model calls it.</summary>
    public void Prepare(Positions pos, long t)
    {
        int keys = Math.Min(pos.KeyLength(t), MaxLength);
        for (int r = 0; r < BatchSize; r++)
        {
            int row = firstRow + r, from = finite[row];
            if (from >= keys) continue;
            int to = Math.Min(MaxLength, (keys + ZeroChunk - 1) / ZeroChunk * ZeroChunk);
            using var scope = NewDisposeScope();
            foreach (var l in Layers)
            {
                int d = l.TimeDim;
                l.A.narrow(0, r, 1).narrow(d, from, to - from).zero_();
                l.B.narrow(0, r, 1).narrow(d, from, to - from).zero_();
            }
            finite[row] = to;
        }
    }

    /// <summary>Records that positions [0, <paramref name="length"/>) of row <paramref name="row"/> were written outside a
    /// forward (a restored prefix), so Prepare does not zero them.</summary>
    public void MarkWritten(int row, int length) => finite[firstRow + row] = Math.Max(finite[firstRow + row], length);

    /// <summary>Forgets what row <paramref name="row"/> holds (after a failure, which may have left NaN in it): the next
    /// forward that reads it zeroes it first.</summary>
    public void Forget(int row) => finite[firstRow + row] = 0;

    /// <summary>Positions of row <paramref name="row"/> that hold finite values (written or zeroed): what its memory costs.</summary>
    public int FiniteLength(int row) => finite[firstRow + row];

    /// <summary>A view of rows [first, first + count): writes go to this cache. Disposing it frees only the view.</summary>
    public KvCache Slice(int first, int count)
    {
        using var scope = NewDisposeScope();
        var layers = Layers.Select(l => new LayerCache(l.A.narrow(0, first, count), l.B.narrow(0, first, count))).ToArray();
        return new KvCache(layers, count, MaxLength, finite, firstRow + first);
    }

    /// <summary>Copies the first <paramref name="length"/> positions of row <paramref name="from"/> into row <paramref name="to"/>.</summary>
    public void CopyRow(int from, int to, int length)
    {
        if (from == to || length == 0) return;
        using var scope = NewDisposeScope();
        foreach (var l in Layers)
        {
            int d = l.TimeDim;
            l.A.narrow(0, to, 1).narrow(d, 0, length).copy_(l.A.narrow(0, from, 1).narrow(d, 0, length));
            l.B.narrow(0, to, 1).narrow(d, 0, length).copy_(l.B.narrow(0, from, 1).narrow(d, 0, length));
        }
        MarkWritten(to, length);
    }

    /// <summary>Bytes per cached token across all layers, for a given element size.</summary>
    public static long BytesPerToken(ModelConfig cfg, int elementBytes, int mtpLayers = 0) =>
        (long)(cfg.NumHiddenLayers + mtpLayers) * elementBytes *
        (cfg.IsMla ? cfg.KvLoraRank + cfg.QkRopeHeadDim : cfg.NumAttentionHeads * (cfg.QkRopeHeadDim + cfg.VHeadDim));

    public void Dispose() { foreach (var l in Layers) l.Dispose(); storage?.Dispose(); }
}
