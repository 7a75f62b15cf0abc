using static TorchSharp.torch;

namespace SeekSharp.Modeling;

// Per-layer key/value storage for incremental decoding. MHA keeps full keys and values per head;
// MLA keeps only the normalized KV latent and the shared RoPE key: (kv_lora_rank + qk_rope_head_dim)
// values per token and layer instead of 2·heads·head_dim, the point of MLA. Buffers are allocated once
// at full length and filled in place, outside every dispose scope. The serving engine uses one cache as a
// pool of slots, one row per running sequence: Slice gives views of rows, writes go to each row's own
// positions (Positions/RowPositions), and CopyRow moves a sequence to another row.

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
    public LayerCache[] Layers { get; }
    public int BatchSize { get; }
    public int MaxLength { get; }
    /// <summary>Positions already filled (the next token's position).</summary>
    public int Length { get; set; }

    KvCache(LayerCache[] layers, int batchSize, int maxLength)
    {
        Layers = layers;
        BatchSize = batchSize;
        MaxLength = maxLength;
    }

    /// <param name="mtpLayers">Layers after the main model's, for MTP modules drafting (speculative decoding).</param>
    public KvCache(ModelConfig cfg, int batchSize, int maxLength, ScalarType dtype, Device? device = null, int mtpLayers = 0)
    {
        if (maxLength > cfg.MaxPositionEmbeddings)
            throw new SeekSharpException($"cache length {maxLength} exceeds max_position_embeddings ({cfg.MaxPositionEmbeddings}).");
        BatchSize = batchSize;
        MaxLength = maxLength;
        Layers = new LayerCache[cfg.NumHiddenLayers + mtpLayers];
        for (int i = 0; i < Layers.Length; i++)
        {
            Layers[i] = cfg.IsMla
                ? new LayerCache(zeros([batchSize, maxLength, cfg.KvLoraRank], dtype, device),
                                 zeros([batchSize, maxLength, cfg.QkRopeHeadDim], dtype, device))
                : new LayerCache(zeros([batchSize, cfg.NumAttentionHeads, maxLength, cfg.QkRopeHeadDim], dtype, device),
                                 zeros([batchSize, cfg.NumAttentionHeads, maxLength, cfg.VHeadDim], dtype, device));
        }
    }

    /// <summary>A view of rows [first, first + count): writes go to this cache. Disposing it frees only the view.</summary>
    public KvCache Slice(int first, int count)
    {
        using var scope = NewDisposeScope();
        var layers = Layers.Select(l => new LayerCache(l.A.narrow(0, first, count), l.B.narrow(0, first, count))).ToArray();
        return new KvCache(layers, count, MaxLength);
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
    }

    /// <summary>Bytes per cached token across all layers, for a given element size.</summary>
    public static long BytesPerToken(ModelConfig cfg, int elementBytes, int mtpLayers = 0) =>
        (long)(cfg.NumHiddenLayers + mtpLayers) * elementBytes *
        (cfg.IsMla ? cfg.KvLoraRank + cfg.QkRopeHeadDim : cfg.NumAttentionHeads * (cfg.QkRopeHeadDim + cfg.VHeadDim));

    public void Dispose() { foreach (var l in Layers) l.Dispose(); }
}
