using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace SeekSharp.Server.Api;

// The body is read by hand, bounded, instead of through model binding: an oversized or malformed body
// must become OpenAI's 400 error object, and a body can never make the server buffer more than the limit.
// Only application/json is read (415 otherwise): a browser page of another site can send text/plain or a
// form cross-site without a CORS preflight, but not application/json. System.Text.Json parses a lone
// UTF-16 surrogate escape ("\ud800") and some invalid UTF-8 inside strings and leaves GetString to throw;
// every string of the body (names and values) is decoded once here, so no handler ever meets one.

/// <summary>Reads a request body as one JSON object, at most <c>limit</c> bytes.</summary>
public static class JsonBody
{
    public static async Task<JsonElement> ReadObjectAsync(HttpRequest request, int limit, CancellationToken ct)
    {
        if (!request.HasJsonContentType())
            throw new ApiException(415, $"Unsupported Content-Type {(request.ContentType is { Length: > 0 } t ? $"'{t}'" : "(none)")}: send the body as 'application/json'.",
                code: "unsupported_media_type");
        if (request.ContentLength > limit) throw TooLarge(limit);
        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        try
        {
            while ((read = await request.Body.ReadAsync(chunk, ct)) > 0)
            {
                if (buffer.Length + read > limit) throw TooLarge(limit);
                buffer.Write(chunk, 0, read);
            }
        }
        // Kestrel reports a malformed chunked body (a chunk size that overflows, say) as an IOException.
        catch (IOException e) when (!ct.IsCancellationRequested)
        {
            throw ApiException.BadRequest(null, $"The request body could not be read ({e.Message}).", "invalid_body");
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
            CheckText(doc.RootElement, null);
            return doc.RootElement.Clone();
        }
    }

    /// <summary>Decodes every string under <paramref name="e"/>; <paramref name="at"/> is its path as OpenAI's `param` names it.</summary>
    static void CheckText(JsonElement e, string? at)
    {
        switch (e.ValueKind)
        {
            case JsonValueKind.String:
                try { _ = e.GetString(); }
                catch (InvalidOperationException) { throw BadText(at, "value"); }
                break;
            case JsonValueKind.Array:
                int i = 0;
                foreach (var item in e.EnumerateArray()) CheckText(item, $"{at}[{i++}]");
                break;
            case JsonValueKind.Object:
                foreach (var p in e.EnumerateObject())
                {
                    string name;
                    try { name = p.Name; }
                    catch (InvalidOperationException) { throw BadText(at, "property name"); }
                    CheckText(p.Value, at is null ? name : $"{at}.{name}");
                }
                break;
        }
    }

    static ApiException BadText(string? at, string what) => ApiException.BadRequest(at,
        $"Invalid {(at is null ? "request body" : $"'{at}'")}: a string {what} is not valid Unicode (a lone UTF-16 surrogate such as \\ud800, or invalid UTF-8).",
        "invalid_encoding");

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
