using System.Text.Json.Serialization;
using SeekSharp.Server.Billing;
using SeekSharp.Serving;

namespace SeekSharp.Server.Api;

// OpenAI's usage object with DeepSeek's cache fields beside OpenAI's own (prompt_tokens_details.cached_tokens
// is what OpenAI SDKs read as cached input), plus cost_usd from the server's price list. With n > 1 every
// choice is its own engine request, so its prompt is counted (and billed) once per choice: the later ones
// usually hit the prefix cache the first one filled.

public sealed record PromptTokensDetails(int CachedTokens);

public sealed record CompletionTokensDetails(int ReasoningTokens);

/// <summary>Tokens and cost of one API request.</summary>
public sealed record ApiUsage(int PromptTokens, int CompletionTokens, int TotalTokens, int PromptCacheHitTokens,
    int PromptCacheMissTokens, PromptTokensDetails PromptTokensDetails, CompletionTokensDetails CompletionTokensDetails,
    [property: JsonPropertyName("cost_usd")] double CostUsd)
{
    public static ApiUsage From(IEnumerable<(GenerationUsage Usage, int ReasoningTokens)> choices, Pricing pricing)
    {
        int prompt = 0, hit = 0, completion = 0, reasoning = 0;
        foreach (var (u, r) in choices)
        {
            prompt += u.PromptTokens;
            hit += u.CachedPromptTokens;
            completion += u.CompletionTokens;
            reasoning += r;
        }
        return new ApiUsage(prompt, completion, prompt + completion, hit, prompt - hit, new PromptTokensDetails(hit),
            new CompletionTokensDetails(reasoning), pricing.Cost(hit, prompt - hit, completion));
    }
}
