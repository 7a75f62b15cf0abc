using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace SeekSharp.Server.Api;

// Server-Sent Events as OpenAI streams them: each event is one line "data: {json}" and a blank line,
// flushed at once (no response buffering, and X-Accel-Buffering for proxies); the stream ends with
// "data: [DONE]". An error after the headers went out can no longer change the status, so it is sent
// as an event carrying OpenAI's error object, which the SDKs raise.

/// <summary>Writes a text/event-stream response.</summary>
public sealed class SseWriter
{
    static readonly byte[] Prefix = "data: "u8.ToArray();
    static readonly byte[] Separator = "\n\n"u8.ToArray();
    readonly HttpResponse response;

    public SseWriter(HttpResponse response)
    {
        this.response = response;
        response.StatusCode = 200;
        response.ContentType = "text/event-stream; charset=utf-8";
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no";
        response.HttpContext.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
    }

    public Task WriteAsync<T>(T value, CancellationToken ct) => WriteRawAsync(ApiJson.Serialize(value), ct);

    public Task ErrorAsync(ApiException e, CancellationToken ct) => WriteRawAsync(e.ToJson(), ct);

    public Task DoneAsync(CancellationToken ct) => WriteRawAsync(Encoding.ASCII.GetBytes("[DONE]"), ct);

    async Task WriteRawAsync(byte[] payload, CancellationToken ct)
    {
        var frame = new byte[Prefix.Length + payload.Length + Separator.Length]; // one write per event
        Prefix.CopyTo(frame, 0);
        payload.CopyTo(frame, Prefix.Length);
        Separator.CopyTo(frame, Prefix.Length + payload.Length);
        await response.Body.WriteAsync(frame, ct);
        await response.Body.FlushAsync(ct);
    }
}
