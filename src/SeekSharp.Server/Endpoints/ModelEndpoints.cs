using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using SeekSharp.Server.Api;

namespace SeekSharp.Server.Endpoints;

/// <summary>GET /v1/models, GET /v1/models/{id} and GET /health.</summary>
public static class ModelEndpoints
{
    public sealed record ModelCard(string Id, string Object, long Created, string OwnedBy, int ContextLength);

    public sealed record ModelList(string Object, IReadOnlyList<ModelCard> Data);

    public static void MapModelApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/v1/models", (HttpContext ctx, ServedModel m) => ApiJson.WriteAsync(ctx.Response, new ModelList("list", [Card(m)])));
        app.MapGet("/v1/models/{id}", (HttpContext ctx, ServedModel m, string id) => id == m.Id
            ? ApiJson.WriteAsync(ctx.Response, Card(m))
            : new ApiException(404, $"The model '{id}' does not exist; this server serves '{m.Id}'.", "model", "model_not_found").WriteAsync(ctx.Response));
        app.MapGet("/health", (HttpContext ctx, ServedModel m) =>
        {
            var s = m.Engine.Stats();
            return ApiJson.WriteAsync(ctx.Response, new { status = "ok", model = m.Id, running = s.Running, queued = s.Queued });
        });
    }

    static ModelCard Card(ServedModel m) => new(m.Id, "model", m.Created, "seeksharp", m.ContextLength);
}
