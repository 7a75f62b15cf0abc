using System.Text.Json;

namespace SeekSharp.Server.Api;

/// <summary>A parsed POST /v1/completions body: raw text continued as-is (no chat template, no reasoning split).</summary>
public sealed record CompletionRequest(string Prompt, GenerationParams Params)
{
    public static CompletionRequest Parse(JsonElement body, ServedModel model, int maxChoices)
    {
        ModelField.Check(body, model);
        if (JsonFields.Get(body, "echo") is { ValueKind: not JsonValueKind.False })
            throw ApiException.BadRequest("echo", "'echo' is not supported by this server.", "unsupported_parameter");
        if (JsonFields.Get(body, "suffix") is not null)
            throw ApiException.BadRequest("suffix", "'suffix' is not supported by this server.", "unsupported_parameter");
        if (JsonFields.Get(body, "prompt") is not { } p)
            throw ApiException.BadRequest("prompt", "Missing required parameter: 'prompt'.", "missing_required_parameter");
        // One prompt per request; OpenAI's batch form (an array of prompts) is accepted only with one element.
        string prompt = p.ValueKind switch
        {
            JsonValueKind.String => p.GetString()!,
            JsonValueKind.Array when p.GetArrayLength() == 1 && p[0].ValueKind == JsonValueKind.String => p[0].GetString()!,
            JsonValueKind.Array => throw ApiException.BadRequest("prompt", "Invalid 'prompt': expected a string or an array of exactly one string."),
            _ => throw JsonFields.Wrong("prompt", "a string", p),
        };
        return new CompletionRequest(prompt, GenerationParams.Parse(body, model.ContextLength, maxChoices));
    }
}
