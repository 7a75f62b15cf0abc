using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace SeekSharp.Server.Api;

// The body is read by hand, bounded, instead of through model binding: an oversized or malformed body
// must become OpenAI's 400 error object, and a body can never make the server buffer more than the limit.

/// <summary>Reads a request body as one JSON object, at most <c>limit</c> bytes.</summary>
public static class JsonBody
{
    public static async Task<JsonElement> ReadObjectAsync(HttpRequest request, int limit, CancellationToken ct)
    {
        if (request.ContentLength > limit) throw TooLarge(limit);
        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await request.Body.ReadAsync(chunk, ct)) > 0)
        {
            if (buffer.Length + read > limit) throw TooLarge(limit);
            buffer.Write(chunk, 0, read);
        }
        if (buffer.Length == 0) throw ApiException.BadRequest(null, "The request body is empty; expected a JSON object.", "invalid_json");
        JsonDocument doc;
        try { doc = JsonDocument.Parse(buffer.GetBuffer().AsMemory(0, (int)buffer.Length), new JsonDocumentOptions { MaxDepth = 32 }); }
        catch (JsonException e)
        {
            throw ApiException.BadRequest(null, $"The request body is not valid JSON ({e.Message}).", "invalid_json");
        }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw ApiException.BadRequest(null, $"The request body must be a JSON object, got {Kind(doc.RootElement)}.", "invalid_json");
            return doc.RootElement.Clone();
        }
    }

    static ApiException TooLarge(int limit) =>
        ApiException.BadRequest(null, $"The request body is larger than the server's limit of {limit:N0} bytes.", "request_too_large");

    internal static string Kind(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Array => "an array",
        JsonValueKind.Object => "an object",
        _ => "null",
    };
}
