using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace SeekSharp.Server.Api;

// Every error a client sees has OpenAI's shape, {"error":{"message","type","param","code"}}, so SDKs
// surface the message and the offending field instead of a bare status code.

/// <summary>An error answered to the client with <paramref name="status"/> and OpenAI's error object.</summary>
public sealed class ApiException(int status, string message, string? param = null, string? code = null,
    string type = "invalid_request_error") : Exception(message)
{
    public int Status { get; } = status;
    public string? Param { get; } = param;
    public string? Code { get; } = code;
    public string Type { get; } = type;

    /// <summary>400 naming the request field (OpenAI's `param`), e.g. "messages[2].content".</summary>
    public static ApiException BadRequest(string? param, string message, string code = "invalid_value") =>
        new(400, message, param, code);

    public byte[] ToJson() => ErrorJson(Message, Type, Param, Code);

    public static byte[] ErrorJson(string message, string type, string? param, string? code) =>
        JsonSerializer.SerializeToUtf8Bytes(new { error = new { message, type, param, code } }, ApiJson.Options);

    public async Task WriteAsync(HttpResponse response)
    {
        response.StatusCode = Status;
        response.ContentType = "application/json";
        var body = ToJson();
        response.ContentLength = body.Length;
        await response.Body.WriteAsync(body);
    }
}
