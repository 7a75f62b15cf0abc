// Design: the serving side of a run's bill (`seek serve`). A server's costs (its wall time, CPU time, energy) are shared
// by every caller, and no clock sees one caller's share: it is apportioned by the tokens each key made the model
// compute (prompt tokens not served from the prefix cache, plus generated ones), the quantity the model FLOPs are counted
// from, so a key's FLOPs share and its time share are one number. Bytes are per key as measured (HTTP bodies).

using System.Text.Json.Serialization;

namespace SeekSharp.Ledger;

/// <summary>What a server did for each API key while it ran.</summary>
public sealed record LedgerServing
{
    /// <summary>What the shared figures (wall and CPU time, energy) are split by: "computed tokens".</summary>
    [JsonPropertyName("apportioned_by")] public string ApportionedBy { get; init; } = "computed tokens";
    /// <summary>By key name ("anonymous" without a keys file).</summary>
    [JsonPropertyName("keys")] public Dictionary<string, LedgerServingKey> Keys { get; init; } = [];
}

/// <summary>One key's requests, tokens and bytes, and its share of the server's time and energy.</summary>
public sealed record LedgerServingKey
{
    [JsonPropertyName("requests")] public long Requests { get; init; }
    [JsonPropertyName("prompt_tokens")] public long PromptTokens { get; init; }
    [JsonPropertyName("cached_prompt_tokens")] public long CachedPromptTokens { get; init; }
    [JsonPropertyName("completion_tokens")] public long CompletionTokens { get; init; }
    /// <summary>Request body bytes the server read.</summary>
    [JsonPropertyName("bytes_received")] public long BytesReceived { get; init; }
    /// <summary>Response body bytes the server wrote.</summary>
    [JsonPropertyName("bytes_sent")] public long BytesSent { get; init; }
    /// <summary>Forward FLOPs of the tokens it made the model compute (ModelCost).</summary>
    [JsonPropertyName("model_flops")] public double ModelFlops { get; init; }
    /// <summary>Its computed tokens over every key's: the fraction of the server's time and energy charged to it.</summary>
    [JsonPropertyName("share")] public double Share { get; init; }

    /// <summary>Tokens the model computed for it: prompt tokens not served from the prefix cache, and completion tokens.</summary>
    [JsonIgnore] public long ComputedTokens => PromptTokens - CachedPromptTokens + CompletionTokens;
}
