using System.Text.Json.Serialization;

namespace SeekSharp.Server.Api;

// OpenAI's text_completion object; its streamed chunks have the same shape with partial text.

public sealed record CompletionChoice(int Index, string Text, object? Logprobs, string? FinishReason);

public sealed record TextCompletion(string Id, string Object, long Created, string Model, IReadOnlyList<CompletionChoice> Choices,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] ApiUsage? Usage, string? SystemFingerprint = null);
