using Microsoft.AspNetCore.Http;
using SeekSharp.Server.Auth;
using SeekSharp.Server.Billing;

namespace SeekSharp.Server.Metrics;

// The network resource of serving: request and response body bytes, counted as they are read and written (so a
// response's bytes are booked before the client has them, and a streamed one chunk by chunk) and booked to the caller
// the key gate identified; before it has (a 401), to the server's totals only. Headers and TLS framing are not
// counted: the body is what an application sends, and what the ledger's network figures mean elsewhere (payloads).

/// <summary>Middleware (outermost): wraps the request and response bodies in byte counters.</summary>
public sealed class TrafficMeter(RequestDelegate next, ServingLedger ledger)
{
    public Task InvokeAsync(HttpContext ctx)
    {
        string? Caller() => ctx.Features.Get<ApiCaller>()?.Name;
        ctx.Request.Body = new CountingStream(ctx.Request.Body, n => ledger.AddTraffic(Caller(), n, 0));
        ctx.Response.Body = new CountingStream(ctx.Response.Body, n => ledger.AddTraffic(Caller(), 0, n));
        return next(ctx);
    }
}

/// <summary>A stream that reports the bytes read from or written to the stream it wraps.</summary>
sealed class CountingStream(Stream inner, Action<long> counted) : Stream
{
    public override bool CanRead => inner.CanRead;
    public override bool CanSeek => false;
    public override bool CanWrite => inner.CanWrite;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override void Flush() => inner.Flush();
    public override Task FlushAsync(CancellationToken ct) => inner.FlushAsync(ct);
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();

    public override int Read(byte[] buffer, int offset, int count) => Count(inner.Read(buffer, offset, count));
    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default) => Count(await inner.ReadAsync(buffer, ct));
    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken ct) => ReadAsync(buffer.AsMemory(offset, count), ct).AsTask();

    public override void Write(byte[] buffer, int offset, int count)
    {
        inner.Write(buffer, offset, count);
        counted(count);
    }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken ct = default)
    {
        await inner.WriteAsync(buffer, ct);
        counted(buffer.Length);
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken ct) => WriteAsync(buffer.AsMemory(offset, count), ct).AsTask();

    int Count(int n)
    {
        if (n > 0) counted(n);
        return n;
    }
}
