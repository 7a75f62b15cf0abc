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

    /// <summary>With <see cref="GroupPrefill"/>: prompt tokens (padding included) one prefill forward may take:
    /// requests admitted together are prefilled in groups up to this size; a longer prompt still goes in one forward of its own.</summary>
    public int MaxPrefillTokens { get; init; } = 512;

    /// <summary>Prefill requests admitted together in padded groups of up to <see cref="MaxPrefillTokens"/>: fewer
    /// forwards for a burst of short prompts (~25 % more tokens/s when 32 arrive at once on `small`), but in bf16 a
    /// prompt prefilled in a group rounds differently from one prefilled alone, so its greedy text can depend on what
    /// it arrived with. Off (the default), each prompt is prefilled in a forward of its own. docs/decisions/0011.</summary>
    public bool GroupPrefill { get; init; }

    /// <summary>With a model that has MTP modules: draft one token per step with MTP module 1 and verify it in the
    /// next forward (speculative decoding, GenerationEngine.Speculative.cs); ignored without MTP. Off by default: on this CPU it measured 0.58x single-stream tokens/s on a tiny MTP model
    /// (the drafter is a whole extra block per step); opt in where a larger model makes the main forward dominate. Decision 0021.</summary>
    public bool Speculative { get; init; }

    public EngineOptions Validate()
    {
        if (MaxBatchSize < 1) throw new SeekSharpException($"max batch size: expected 1 or more, got {MaxBatchSize}.");
        if (PrefixCacheBytes < 0) throw new SeekSharpException($"prefix cache bytes: expected 0 or more, got {PrefixCacheBytes}.");
        if (MaxPrefillTokens < 1) throw new SeekSharpException($"max prefill tokens: expected 1 or more, got {MaxPrefillTokens}.");
        if (PrefixBlockSize < 1) throw new SeekSharpException($"prefix block size: expected 1 or more, got {PrefixBlockSize}.");
        return this;
    }
}
