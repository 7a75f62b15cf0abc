using System.Text.Json.Serialization;

namespace SeekSharp.Server.Api;

// OpenAI's chat.completion and chat.completion.chunk objects, with DeepSeek's reasoning_content beside
// content. Optional fields are omitted rather than sent as null where OpenAI omits them.

public sealed record ChatMessageOut(string Role, string Content,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? ReasoningContent);

public sealed record ChatChoice(int Index, ChatMessageOut Message, object? Logprobs, string FinishReason);

public sealed record ChatCompletion(string Id, string Object, long Created, string Model, IReadOnlyList<ChatChoice> Choices,
    ApiUsage Usage, string? SystemFingerprint = null);

public sealed record ChatDelta(
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Role = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Content = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? ReasoningContent = null);

public sealed record ChatChunkChoice(int Index, ChatDelta Delta, object? Logprobs, string? FinishReason);

public sealed record ChatChunk(string Id, string Object, long Created, string Model, IReadOnlyList<ChatChunkChoice> Choices,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] ApiUsage? Usage = null, string? SystemFingerprint = null);
