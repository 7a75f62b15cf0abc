using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using SeekSharp.Server.Auth;
using SeekSharp.Server.Metrics;

namespace SeekSharp.Server.Endpoints;

/// <summary>GET /metrics in Prometheus text format; with keys on, for admin keys only (it shows every key's totals).</summary>
public static class MetricsEndpoint
{
    public static void MapMetrics(this IEndpointRouteBuilder app) =>
        app.MapGet("/metrics", (HttpContext ctx, ServedModel m, ServerMetrics metrics) =>
        {
            ctx.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
            return ctx.Response.WriteAsync(metrics.Render(m.Engine.Stats()));
        }).WithMetadata(AdminOnly.Instance);
}
