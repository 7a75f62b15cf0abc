using System.Text.Json;

namespace SeekSharp.Server.Api;

// The sampling and output fields chat and text completions share. Defaults follow OpenAI (temperature 1,
// top_p 1, n 1, no stop). Fields we cannot honour (tools, logprobs) are refused rather than ignored, so a
// client never gets an answer that silently differs from what it asked for; other unknown fields
// (user, metadata, penalties at 0 ...) are ignored as OpenAI-compatible servers commonly do.

/// <summary>Validated request fields that control generation.</summary>
/// <param name="MaxTokens">Requested cap on generated tokens; null = up to the context.</param>
/// <param name="Seed">Null = a fresh random seed per request; choice i uses Seed + i.</param>
public sealed record GenerationParams(int? MaxTokens, double Temperature, double TopP, IReadOnlyList<string> Stop,
    int? Seed, int N, bool Stream, bool IncludeUsage)
{
    /// <summary>OpenAI accepts at most 4 stop sequences.</summary>
    public const int MaxStopSequences = 4;

    /// <summary>Longest stop sequence accepted, in characters (stop matching holds back up to this much text).</summary>
    public const int MaxStopLength = 256;

    /// <param name="contextLength">The model's context: the most tokens a request may ask for.</param>
    /// <param name="maxChoices">Upper bound of `n`.</param>
    public static GenerationParams Parse(JsonElement body, int contextLength, int maxChoices)
    {
        Refuse(body, "tools", "tool calls");
        Refuse(body, "functions", "function calls");
        if (JsonFields.Get(body, "logprobs") is { ValueKind: not JsonValueKind.False })
            throw ApiException.BadRequest("logprobs", "'logprobs' is not supported by this server.", "unsupported_parameter");

        var maxCompletion = JsonFields.Integer(body, "max_completion_tokens", 1, contextLength);
        var max = JsonFields.Integer(body, "max_tokens", 1, contextLength);
        var stream = JsonFields.Bool(body, "stream") ?? false;
        bool includeUsage = false;
        if (JsonFields.Get(body, "stream_options") is { } so)
        {
            if (so.ValueKind != JsonValueKind.Object) throw JsonFields.Wrong("stream_options", "an object", so);
            if (!stream) throw ApiException.BadRequest("stream_options", "'stream_options' is only allowed when 'stream' is true.");
            includeUsage = (so.TryGetProperty("include_usage", out var iu) ? iu.ValueKind switch
            {
                JsonValueKind.True => true,
                JsonValueKind.False or JsonValueKind.Null => false,
                _ => throw JsonFields.Wrong("stream_options.include_usage", "a boolean", iu),
            } : false);
        }
        return new GenerationParams(
            MaxTokens: (int?)(maxCompletion ?? max),
            Temperature: JsonFields.Number(body, "temperature", 0, 2) ?? 1.0,
            TopP: JsonFields.Number(body, "top_p", 0, 1, minExclusive: true) ?? 1.0,
            Stop: ParseStop(body),
            Seed: (int?)JsonFields.Integer(body, "seed", int.MinValue, int.MaxValue),
            N: (int)(JsonFields.Integer(body, "n", 1, maxChoices) ?? 1),
            Stream: stream,
            IncludeUsage: includeUsage);
    }

    static IReadOnlyList<string> ParseStop(JsonElement body)
    {
        if (JsonFields.Get(body, "stop") is not { } v) return [];
        var stops = new List<string>();
        if (v.ValueKind == JsonValueKind.String) stops.Add(v.GetString()!);
        else if (v.ValueKind == JsonValueKind.Array)
        {
            if (v.GetArrayLength() > MaxStopSequences)
                throw ApiException.BadRequest("stop", $"Invalid 'stop': at most {MaxStopSequences} sequences, got {v.GetArrayLength()}.");
            int i = 0;
            foreach (var s in v.EnumerateArray())
            {
                if (s.ValueKind != JsonValueKind.String) throw JsonFields.Wrong($"stop[{i}]", "a string", s);
                stops.Add(s.GetString()!);
                i++;
            }
        }
        else throw JsonFields.Wrong("stop", "a string or an array of strings", v);
        for (int i = 0; i < stops.Count; i++)
        {
            if (stops[i].Length == 0) throw ApiException.BadRequest("stop", "Invalid 'stop': a stop sequence must not be empty.");
            if (stops[i].Length > MaxStopLength) throw ApiException.BadRequest("stop", $"Invalid 'stop': a stop sequence may have at most {MaxStopLength} characters.");
        }
        return stops;
    }

    static void Refuse(JsonElement body, string name, string what)
    {
        if (JsonFields.Get(body, name) is { } v && !(v.ValueKind == JsonValueKind.Array && v.GetArrayLength() == 0))
            throw ApiException.BadRequest(name, $"'{name}' is not supported: this server does not do {what}.", "unsupported_parameter");
    }
}
