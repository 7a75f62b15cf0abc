using System.Diagnostics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using SeekSharp.Server.Api;
using SeekSharp.Server.Auth;
using SeekSharp.Server.Generation;

namespace SeekSharp.Server.Endpoints;

/// <summary>POST /v1/completions: raw text continuation (BOS + prompt, as `seek generate` does).</summary>
public static class CompletionEndpoints
{
    public static void MapCompletionApi(this IEndpointRouteBuilder app) =>
        app.MapPost("/v1/completions", HandleAsync).WithMetadata(Metered.Instance);

    static async Task HandleAsync(HttpContext ctx, ServedModel model, ServerOptions options, Accounting accounting)
    {
        long started = Stopwatch.GetTimestamp();
        var body = await JsonBody.ReadObjectAsync(ctx.Request, options.MaxBodyBytes, ctx.RequestAborted);
        var req = CompletionRequest.Parse(body, model, options.MaxChoices);
        var p = req.Params;
        var prompt = new List<int> { model.Tokenizer.BosId };
        model.Tokenizer.EncodeInto(req.Prompt, allowSpecial: false, prompt);
        var (job, usage) = GenerationResponder.Start(ctx, model, accounting, prompt, p, chat: false, "prompt", started);
        string id = "cmpl-" + Guid.NewGuid().ToString("N");
        long created = ApiJson.UnixNow();
        TextCompletion Completion(IReadOnlyList<CompletionChoice> choices, ApiUsage? u) => new(id, "text_completion", created, model.Id, choices, u);
        if (!p.Stream)
        {
            var (text, _, finish) = await GenerationResponder.CollectAsync(job, p.N, ctx.RequestAborted);
            var choices = Enumerable.Range(0, p.N).Select(i => new CompletionChoice(i, text[i], null, finish[i])).ToList();
            await ApiJson.WriteAsync(ctx.Response, Completion(choices, await usage));
            return;
        }
        await GenerationResponder.StreamAsync(ctx, job, usage, [],
            e => e switch
            {
                DeltaEvent d => Completion([new CompletionChoice(d.Index, d.Delta.Content, null, null)], null),
                FinishEvent f => Completion([new CompletionChoice(f.Index, "", null, f.FinishReason)], null),
                _ => throw new UnreachableException(),
            },
            p.IncludeUsage ? u => Completion([], u) : null);
    }
}
