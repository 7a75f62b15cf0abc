using System.Globalization;
using Microsoft.AspNetCore.Http;
using SeekSharp.Server.Api;

namespace SeekSharp.Server.Auth;

// With a keys file, every /v1 route needs "Authorization: Bearer <key>" (401 otherwise). Generation
// routes are also metered: a key whose spend reached its budget gets 402 (DeepSeek's "insufficient
// balance"), one over its requests per minute gets 429 with Retry-After. The budget is checked before a
// request starts, so concurrent requests may overrun it by what they cost (a request is never cut off
// halfway). The page, /health and /metrics stay open, as is usual for a loopback server.

/// <summary>Middleware: authenticates /v1 requests and enforces per-key limits.</summary>
public sealed class ApiKeyGate(RequestDelegate next, KeyRing ring, UsageLedger ledger)
{
    readonly ApiKeyRegistry? keys = ring.Keys;

    public static readonly string[] MeteredPaths = ["/v1/chat/completions", "/v1/completions"];

    public async Task InvokeAsync(HttpContext ctx)
    {
        if (keys is null || !ctx.Request.Path.StartsWithSegments("/v1"))
        {
            ctx.Features.Set(ApiCaller.Anonymous);
            await next(ctx);
            return;
        }
        string? header = ctx.Request.Headers.Authorization;
        if (header is null || !header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) || header.Length <= 7)
            throw new ApiException(401, "You didn't provide an API key. Send it as 'Authorization: Bearer <key>'.", code: "missing_api_key");
        var caller = keys.Find(header[7..].Trim())
            ?? throw new ApiException(401, "Incorrect API key provided.", code: "invalid_api_key");
        ctx.Features.Set(caller);
        if (HttpMethods.IsPost(ctx.Request.Method) && MeteredPaths.Any(p => ctx.Request.Path.Equals(p, StringComparison.OrdinalIgnoreCase)))
        {
            if (caller.BudgetUsd is { } budget && ledger.Get(caller.Name).SpentUsd >= budget)
                throw new ApiException(402, $"Insufficient balance: key '{caller.Name}' has spent its budget of ${budget:0.######}.",
                    code: "insufficient_balance", type: "insufficient_quota");
            if (caller.Window is { } window && !window.TryAcquire(out var retry))
            {
                ctx.Response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(retry.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
                throw new ApiException(429, $"Rate limit reached for key '{caller.Name}': {caller.Rpm} requests per minute. Retry in {retry.TotalSeconds:0.#} s.",
                    code: "rate_limit_exceeded", type: "requests");
            }
        }
        await next(ctx);
    }
}
