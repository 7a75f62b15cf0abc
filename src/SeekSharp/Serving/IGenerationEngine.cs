using System.Threading.Channels;
using SeekSharp.Inference;
using SeekSharp.Modeling;

namespace SeekSharp.Serving;

// The seam between the HTTP layer (SeekSharp.Server) and the decoding engine: requests in token ids,
// generated token ids out, one channel per request. Text (chat templates, stop strings, reasoning
// split, pricing) is the server's business; batching, the KV cache and the prefix cache are the engine's.
// A caller that no longer wants tokens (a stop string matched, the client went away) cancels the token
// it passed to Submit; the engine then frees the request's batch slot before its next step.

/// <summary>One generation: a tokenized prompt and how to continue it.</summary>
/// <param name="Prompt">Token ids, BOS included; at least one.</param>
/// <param name="MaxTokens">Upper bound on generated tokens; the engine also stops at the model's context.</param>
/// <param name="StopIds">Ids that end generation (not emitted), typically the tokenizer's EOS.</param>
public sealed record GenerationRequest(IReadOnlyList<int> Prompt, int MaxTokens, SamplingOptions Sampling, int Seed,
    IReadOnlySet<int> StopIds);

public enum FinishReason { Stop, Length, Cancelled }

/// <summary>What one request consumed; CachedPromptTokens of PromptTokens were served from the prefix cache.</summary>
public sealed record GenerationUsage(int PromptTokens, int CachedPromptTokens, int CompletionTokens, FinishReason FinishReason);

/// <summary>A running request: its tokens as they are sampled, and its usage once it ends.</summary>
public sealed class GenerationHandle(ChannelReader<int> tokens, Task<GenerationUsage> completion)
{
    /// <summary>Generated ids in order; completes when generation ends (or faults with the engine's error).</summary>
    public ChannelReader<int> Tokens { get; } = tokens;

    /// <summary>Completes after the last token is written to <see cref="Tokens"/>.</summary>
    public Task<GenerationUsage> Completion { get; } = completion;
}

/// <summary>Counters for /metrics and benchmarks; totals are since the engine started.</summary>
public sealed record EngineStats(int Running, int Queued, long PrefixCacheBytes, long PrefixCacheEntries,
    long PromptTokens, long CachedPromptTokens, long CompletionTokens, long DecodeSteps, long DecodeRows)
{
    /// <summary>Wall time spent in batched decode steps (forward and sampling), excluding prefills.</summary>
    public double DecodeSeconds { get; init; }
    /// <summary>Wall time spent prefilling prompts (the part not served from the prefix cache).</summary>
    public double PrefillSeconds { get; init; }
    /// <summary>Speculative decoding: tokens drafted by the MTP module and verified, and how many were accepted.</summary>
    public long DraftedTokens { get; init; }
    public long AcceptedDrafts { get; init; }
    /// <summary>Accepted / drafted; null when nothing was drafted (no MTP model, or speculation off).</summary>
    public double? AcceptanceRate => DraftedTokens > 0 ? (double)AcceptedDrafts / DraftedTokens : null;
    /// <summary>Bytes of the KV slots that hold data (written or zeroed): slots take memory as sequences reach
    /// positions, up to max-batch × context × bytes per token (KvCache.Prepare).</summary>
    public long KvSlotBytes { get; init; }
    /// <summary>What the slots would take at full length: max-batch × context × bytes per token.</summary>
    public long KvSlotCapacityBytes { get; init; }
}

/// <summary>Decodes many requests on one model.</summary>
public interface IGenerationEngine : IDisposable
{
    ModelConfig Config { get; }

    /// <summary>Queues a request. Invalid requests (empty prompt, prompt that leaves no room in the context,
    /// MaxTokens &lt; 1, bad sampling options) throw SeekSharpException here, before anything is queued.</summary>
    GenerationHandle Submit(GenerationRequest request, CancellationToken cancellationToken = default);

    EngineStats Stats();
}
