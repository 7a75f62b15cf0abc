using System.Text;
using System.Text.Json;
using SeekSharp.Tokenization;

namespace SeekSharp.Server.Api;

// Message content may be a string or OpenAI's array of parts; only text parts can be rendered for a text
// model. "developer" is OpenAI's newer name for the system role. Assistant messages sent back in a
// multi-turn chat carry only their content: reasoning_content is never re-fed, as DeepSeek's API asks.

/// <summary>A parsed POST /v1/chat/completions body.</summary>
public sealed record ChatRequest(IReadOnlyList<ChatMessage> Messages, GenerationParams Params)
{
    public static ChatRequest Parse(JsonElement body, ServedModel model, int maxChoices)
    {
        ModelField.Check(body, model);
        if (!body.TryGetProperty("messages", out var msgs) || msgs.ValueKind == JsonValueKind.Null)
            throw ApiException.BadRequest("messages", "Missing required parameter: 'messages'.", "missing_required_parameter");
        if (msgs.ValueKind != JsonValueKind.Array) throw JsonFields.Wrong("messages", "an array", msgs);
        if (msgs.GetArrayLength() == 0) throw ApiException.BadRequest("messages", "Invalid 'messages': expected at least one message.", "empty_array");
        var messages = new List<ChatMessage>();
        int i = 0;
        foreach (var m in msgs.EnumerateArray())
        {
            messages.Add(ParseMessage(m, $"messages[{i}]"));
            i++;
        }
        return new ChatRequest(messages, GenerationParams.Parse(body, model.ContextLength, maxChoices));
    }

    static ChatMessage ParseMessage(JsonElement m, string at)
    {
        if (m.ValueKind != JsonValueKind.Object) throw JsonFields.Wrong(at, "an object", m);
        var role = JsonFields.String(m, "role", $"{at}.role")
            ?? throw ApiException.BadRequest($"{at}.role", $"Missing required parameter: '{at}.role'.", "missing_required_parameter");
        role = role switch
        {
            "system" or "developer" => "system",
            "user" or "assistant" => role,
            _ => throw ApiException.BadRequest($"{at}.role", $"Invalid '{at}.role': '{role}' is not supported (expected system, developer, user or assistant)."),
        };
        return new ChatMessage(role, Content(m, $"{at}.content"));
    }

    static string Content(JsonElement m, string at)
    {
        if (!m.TryGetProperty("content", out var c) || c.ValueKind == JsonValueKind.Null)
            throw ApiException.BadRequest(at, $"Missing required parameter: '{at}'.", "missing_required_parameter");
        if (c.ValueKind == JsonValueKind.String) return c.GetString()!;
        if (c.ValueKind != JsonValueKind.Array) throw JsonFields.Wrong(at, "a string or an array of content parts", c);
        var sb = new StringBuilder();
        int i = 0;
        foreach (var part in c.EnumerateArray())
        {
            var p = $"{at}[{i}]";
            if (part.ValueKind != JsonValueKind.Object) throw JsonFields.Wrong(p, "an object", part);
            var type = JsonFields.String(part, "type", $"{p}.type");
            if (type != "text")
                throw ApiException.BadRequest($"{p}.type", $"Invalid '{p}.type': only \"text\" parts are supported by a text model, got {(type is null ? "none" : $"\"{type}\"")}.");
            sb.Append(JsonFields.String(part, "text", $"{p}.text")
                ?? throw ApiException.BadRequest($"{p}.text", $"Missing required parameter: '{p}.text'.", "missing_required_parameter"));
            i++;
        }
        return sb.ToString();
    }
}
