using System.Diagnostics;
using System.Text;
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
        app.MapPost("/v1/completions", HandleAsync);

    static async Task HandleAsync(HttpContext ctx, ServedModel model, ServerOptions options, Accounting accounting)
    {
        long started = Stopwatch.GetTimestamp();
        var body = await JsonBody.ReadObjectAsync(ctx.Request, options.MaxBodyBytes, ctx.RequestAborted);
        var req = CompletionRequest.Parse(body, model, options.MaxChoices);
        var prompt = new List<int> { model.Tokenizer.BosId };
        model.Tokenizer.EncodeInto(req.Prompt, allowSpecial: false, prompt);
        var job = GenerationJob.Start(model, prompt, req.Params, chat: false, "prompt", ctx.RequestAborted);
        var usage = accounting.Settle(job, ctx.Features.Get<ApiCaller>() ?? ApiCaller.Anonymous, started);
        string id = "cmpl-" + Guid.NewGuid().ToString("N");
        long created = ApiJson.UnixNow();
        var p = req.Params;
        if (!p.Stream)
        {
            var text = Enumerable.Range(0, p.N).Select(_ => new StringBuilder()).ToArray();
            var finish = new string[p.N];
            await foreach (var e in job.Events.ReadAllAsync(ctx.RequestAborted))
                if (e is DeltaEvent d) text[d.Index].Append(d.Delta.Content);
                else if (e is FinishEvent f) finish[f.Index] = f.FinishReason;
            var choices = Enumerable.Range(0, p.N).Select(i => new CompletionChoice(i, text[i].ToString(), null, finish[i])).ToList();
            await ApiJson.WriteAsync(ctx.Response, new TextCompletion(id, "text_completion", created, model.Id, choices, await usage));
            return;
        }
        var ct = ctx.RequestAborted;
        var sse = new SseWriter(ctx.Response);
        TextCompletion Chunk(int index, string text, string? finish) =>
            new(id, "text_completion", created, model.Id, [new CompletionChoice(index, text, null, finish)], null);
        try
        {
            await foreach (var e in job.Events.ReadAllAsync(ct))
                await sse.WriteAsync(e switch
                {
                    DeltaEvent d => Chunk(d.Index, d.Delta.Content, null),
                    FinishEvent f => Chunk(f.Index, "", f.FinishReason),
                    _ => throw new UnreachableException(),
                }, ct);
            var u = await usage;
            if (p.IncludeUsage) await sse.WriteAsync(new TextCompletion(id, "text_completion", created, model.Id, [], u), ct);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            await sse.ErrorAsync(StreamErrors.From(e, ctx), ct);
        }
        await sse.DoneAsync(ct);
    }
}
