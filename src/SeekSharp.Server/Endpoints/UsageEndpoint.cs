using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using SeekSharp.Server.Api;
using SeekSharp.Server.Auth;
using SeekSharp.Server.Generation;

namespace SeekSharp.Server.Endpoints;

/// <summary>GET /v1/usage: the calling key's totals, limits and the server's prices (what the page's spend panel shows).</summary>
public static class UsageEndpoint
{
    public sealed record PriceList(double InputCacheHitPerMillion, double InputCacheMissPerMillion, double OutputPerMillion, string Description);

    public sealed record UsageReport(string Object, string Key, long Requests, long PromptTokens, long PromptCacheHitTokens,
        long CompletionTokens, double SpentUsd, double? BudgetUsd, double? RemainingUsd, int? Rpm, PriceList Pricing);

    public static void MapUsageApi(this IEndpointRouteBuilder app) =>
        app.MapGet("/v1/usage", (HttpContext ctx, UsageLedger ledger, Accounting accounting) =>
        {
            var caller = ctx.Features.Get<ApiCaller>() ?? ApiCaller.Anonymous;
            var u = ledger.Get(caller.Name);
            var p = accounting.Pricing;
            return ApiJson.WriteAsync(ctx.Response, new UsageReport("usage", caller.Name, u.Requests, u.PromptTokens, u.CachedPromptTokens,
                u.CompletionTokens, u.SpentUsd, caller.BudgetUsd, caller.BudgetUsd is { } b ? Math.Max(0, b - u.SpentUsd) : null, caller.Rpm,
                new PriceList(p.InputCacheHitPerMillion, p.InputCacheMissPerMillion, p.OutputPerMillion, p.Description)));
        });
}
