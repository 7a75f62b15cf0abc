using static TorchSharp.torch;

namespace SeekSharp.Modeling;

// Per-layer key/value storage for incremental decoding. MHA keeps full keys and values per head;
// MLA keeps only the normalized KV latent and the shared RoPE key: (kv_lora_rank + qk_rope_head_dim)
// values per token and layer instead of 2·heads·head_dim, the point of MLA. Buffers are allocated once
// at full length and filled in place, outside every dispose scope.

/// <summary>Cache slots of one layer, shaped (B, maxT, ...) .</summary>
public sealed class LayerCache : IDisposable
{
    /// <summary>MHA: keys (B, H, maxT, D). MLA: latent (B, maxT, kv_lora_rank).</summary>
    public Tensor A { get; }
    /// <summary>MHA: values (B, H, maxT, D). MLA: rotated shared key (B, maxT, qk_rope_head_dim).</summary>
    public Tensor B { get; }

    internal LayerCache(Tensor a, Tensor b) { A = a.DetachFromDisposeScope(); B = b.DetachFromDisposeScope(); }

    public void Dispose() { A.Dispose(); B.Dispose(); }
}

/// <summary>The whole model's cache for a batch of sequences that advance together.</summary>
public sealed class KvCache : IDisposable
{
    public LayerCache[] Layers { get; }
    public int BatchSize { get; }
    public int MaxLength { get; }
    /// <summary>Positions already filled (the next token's position).</summary>
    public int Length { get; set; }

    public KvCache(ModelConfig cfg, int batchSize, int maxLength, ScalarType dtype, Device? device = null)
    {
        if (maxLength > cfg.MaxPositionEmbeddings)
            throw new SeekSharpException($"cache length {maxLength} exceeds max_position_embeddings ({cfg.MaxPositionEmbeddings}).");
        BatchSize = batchSize;
        MaxLength = maxLength;
        Layers = new LayerCache[cfg.NumHiddenLayers];
        for (int i = 0; i < Layers.Length; i++)
        {
            Layers[i] = cfg.IsMla
                ? new LayerCache(zeros([batchSize, maxLength, cfg.KvLoraRank], dtype, device),
                                 zeros([batchSize, maxLength, cfg.QkRopeHeadDim], dtype, device))
                : new LayerCache(zeros([batchSize, cfg.NumAttentionHeads, maxLength, cfg.QkRopeHeadDim], dtype, device),
                                 zeros([batchSize, cfg.NumAttentionHeads, maxLength, cfg.VHeadDim], dtype, device));
        }
    }

    /// <summary>Bytes per cached token across all layers, for a given element size.</summary>
    public static long BytesPerToken(ModelConfig cfg, int elementBytes) =>
        (long)cfg.NumHiddenLayers * elementBytes *
        (cfg.IsMla ? cfg.KvLoraRank + cfg.QkRopeHeadDim : cfg.NumAttentionHeads * (cfg.QkRopeHeadDim + cfg.VHeadDim));

    public void Dispose() { foreach (var l in Layers) l.Dispose(); }
}
