using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using SeekSharp.Ledger;
using SeekSharp.Server.Api;
using SeekSharp.Server.Auth;
using SeekSharp.Server.Billing;
using SeekSharp.Server.Generation;

namespace SeekSharp.Server.Endpoints;

/// <summary>GET /v1/usage: the calling key's totals, limits and the server's prices (what the page's spend panel shows), and
/// its serving share of the eight resources since the server started (ServingLedger).</summary>
public static class UsageEndpoint
{
    public sealed record PriceList(double InputCacheHitPerMillion, double InputCacheMissPerMillion, double OutputPerMillion, string Description);

    /// <summary>This server run's part for the key: what it sent and made the model compute, its share of the shared
    /// figures, and the resource lines (LedgerResources) priced by <c>Hardware</c>.</summary>
    public sealed record ServingShare(DateTime SinceUtc, string ApportionedBy, double Share, long Requests, long PromptTokens, long CachedPromptTokens,
        long CompletionTokens, long BytesReceived, long BytesSent, string Hardware, IReadOnlyList<ResourceLine> Lines);

    public sealed record UsageReport(string Object, string Key, long Requests, long PromptTokens, long PromptCacheHitTokens,
        long CompletionTokens, double SpentUsd, double? BudgetUsd, double? RemainingUsd, int? Rpm, PriceList Pricing, ServingShare Resources);

    public static void MapUsageApi(this IEndpointRouteBuilder app) =>
        app.MapGet("/v1/usage", (HttpContext ctx, UsageLedger ledger, Accounting accounting, ServingLedger serving) =>
        {
            var caller = ctx.Features.Get<ApiCaller>() ?? ApiCaller.Anonymous;
            var u = ledger.Get(caller.Name);
            var p = accounting.Pricing;
            var share = serving.Share(caller.Name);
            var k = share.Serving!.Keys[caller.Name];
            var resources = new ServingShare(share.StartedUtc, share.Serving.ApportionedBy, k.Share, k.Requests, k.PromptTokens, k.CachedPromptTokens,
                k.CompletionTokens, k.BytesReceived, k.BytesSent, serving.Hardware.Name, share.Resources);
            return ApiJson.WriteAsync(ctx.Response, new UsageReport("usage", caller.Name, u.Requests, u.PromptTokens, u.CachedPromptTokens,
                u.CompletionTokens, u.SpentUsd, caller.BudgetUsd, caller.BudgetUsd is { } b ? Math.Max(0, b - u.SpentUsd) : null, caller.Rpm,
                new PriceList(p.InputCacheHitPerMillion, p.InputCacheMissPerMillion, p.OutputPerMillion, p.Description), resources));
        });
}
