using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace SeekSharp.Server.Metrics;

/// <summary>Middleware: counts every answered request by route pattern and final status.</summary>
public sealed class RequestCounter(RequestDelegate next, ServerMetrics metrics)
{
    public async Task InvokeAsync(HttpContext ctx)
    {
        try { await next(ctx); }
        finally
        {
            var route = (ctx.GetEndpoint() as RouteEndpoint)?.RoutePattern.RawText ?? "unmatched";
            var method = ctx.Request.Method is "GET" or "POST" or "HEAD" or "OPTIONS" ? ctx.Request.Method : "OTHER";
            metrics.CountRequest(route, method, ctx.Response.StatusCode);
        }
    }
}
