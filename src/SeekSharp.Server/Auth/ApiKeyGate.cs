using System.Globalization;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using SeekSharp.Server.Api;

namespace SeekSharp.Server.Auth;

// With a keys file, every /v1 route needs "Authorization: Bearer <key>" (401 otherwise). Generation
// routes are also metered: a key whose spend reached its budget gets 402 (DeepSeek's "insufficient
// balance"), one over its requests per minute gets 429 with Retry-After. The budget is checked before a
// request starts, so concurrent requests may overrun it by what they cost (a request is never cut off
// halfway). /metrics shows every key's traffic and cost, so it needs an admin key (403 for another key).
// The page and /health stay open, as is usual for a loopback server.
//
// The gate runs after routing and decides by the endpoint the request reached, never by the path string:
// routing also matches "/v1/chat/completions/", "/V1/Chat/Completions" and the like, and each of those must
// be metered exactly as the canonical path is.

/// <summary>Endpoint metadata: requests to this endpoint count against the key's rate limit and budget.</summary>
public sealed class Metered
{
    public static readonly Metered Instance = new();
}

/// <summary>Endpoint metadata: with keys on, only an admin key may call this endpoint.</summary>
public sealed class AdminOnly
{
    public static readonly AdminOnly Instance = new();
}

/// <summary>Middleware: authenticates /v1 requests and enforces per-key limits.</summary>
public sealed class ApiKeyGate(RequestDelegate next, KeyRing ring, UsageLedger ledger)
{
    readonly ApiKeyRegistry? keys = ring.Keys;

    public async Task InvokeAsync(HttpContext ctx)
    {
        var endpoint = ctx.GetEndpoint();
        bool metered = endpoint?.Metadata.GetMetadata<Metered>() is not null;
        bool adminOnly = endpoint?.Metadata.GetMetadata<AdminOnly>() is not null;
        bool api = metered || adminOnly || ctx.Request.Path.StartsWithSegments("/v1")
            || (endpoint as RouteEndpoint)?.RoutePattern.RawText?.StartsWith("/v1", StringComparison.Ordinal) == true;
        if (keys is null)
        {
            ctx.Features.Set(ApiCaller.Anonymous);
            await next(ctx);
            return;
        }
        // With keys on, a path outside the API (/health, /metrics) names no caller: its bytes are the server's, not
        // booked to a key (there is no "anonymous" key to show them under in /v1/usage).
        if (!api)
        {
            await next(ctx);
            return;
        }
        string? header = ctx.Request.Headers.Authorization;
        if (header is null || !header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) || header.Length <= 7)
            throw new ApiException(401, "You didn't provide an API key. Send it as 'Authorization: Bearer <key>'.", code: "missing_api_key");
        var caller = keys.Find(header[7..].Trim())
            ?? throw new ApiException(401, "Incorrect API key provided.", code: "invalid_api_key");
        ctx.Features.Set(caller);
        if (adminOnly && !caller.Admin)
            throw new ApiException(403, $"Key '{caller.Name}' is not an admin key; create one with `seek serve keys add --admin`.", code: "permission_denied");
        if (metered)
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
