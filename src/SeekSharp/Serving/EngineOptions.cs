namespace SeekSharp.Serving;

/// <summary>Capacity of a <see cref="GenerationEngine"/>.</summary>
public sealed record EngineOptions
{
    /// <summary>Sequences decoded together (cache slots); more requests wait in the queue.</summary>
    public int MaxBatchSize { get; init; } = 32;

    /// <summary>Bytes of prompt-prefix KV kept for reuse across requests; 0 turns prefix caching off.</summary>
    public long PrefixCacheBytes { get; init; } = 256L << 20;

    /// <summary>Prefixes are matched and stored in blocks of this many tokens.</summary>
    public int PrefixBlockSize { get; init; } = 16;

    public EngineOptions Validate()
    {
        if (MaxBatchSize < 1) throw new SeekSharpException($"max batch size: expected 1 or more, got {MaxBatchSize}.");
        if (PrefixCacheBytes < 0) throw new SeekSharpException($"prefix cache bytes: expected 0 or more, got {PrefixCacheBytes}.");
        if (PrefixBlockSize < 1) throw new SeekSharpException($"prefix block size: expected 1 or more, got {PrefixBlockSize}.");
        return this;
    }
}
