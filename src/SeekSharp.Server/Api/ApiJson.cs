using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Http;

namespace SeekSharp.Server.Api;

/// <summary>OpenAI's wire conventions: snake_case names, optional fields left out when null.</summary>
public static class ApiJson
{
    public static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        // Responses are JSON and SSE, never inlined into HTML: write "+", "<" and non-ASCII text as themselves.
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public static byte[] Serialize<T>(T value) => JsonSerializer.SerializeToUtf8Bytes(value, Options);

    public static async Task WriteAsync<T>(HttpResponse response, T value, int status = 200)
    {
        response.StatusCode = status;
        response.ContentType = "application/json";
        await response.Body.WriteAsync(Serialize(value));
    }

    public static long UnixNow() => DateTimeOffset.UtcNow.ToUnixTimeSeconds();
}
