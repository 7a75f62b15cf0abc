using System.Diagnostics;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using SeekSharp.Server.Api;
using SeekSharp.Server.Auth;
using SeekSharp.Server.Generation;
using SeekSharp.Tokenization;

namespace SeekSharp.Server.Endpoints;

/// <summary>POST /v1/chat/completions, streaming and not.</summary>
public static class ChatEndpoints
{
    public static void MapChatApi(this IEndpointRouteBuilder app) =>
        app.MapPost("/v1/chat/completions", HandleAsync);

    static async Task HandleAsync(HttpContext ctx, ServedModel model, ServerOptions options, Accounting accounting)
    {
        long started = Stopwatch.GetTimestamp();
        var body = await JsonBody.ReadObjectAsync(ctx.Request, options.MaxBodyBytes, ctx.RequestAborted);
        var req = ChatRequest.Parse(body, model, options.MaxChoices);
        var prompt = ChatTemplate.EncodeChat(model.Tokenizer, req.Messages, addGenerationPrompt: true).Ids;
        var job = GenerationJob.Start(model, prompt, req.Params, chat: true, "messages", ctx.RequestAborted);
        var usage = accounting.Settle(job, ctx.Features.Get<ApiCaller>() ?? ApiCaller.Anonymous, started);
        string id = "chatcmpl-" + Guid.NewGuid().ToString("N");
        long created = ApiJson.UnixNow();
        if (req.Params.Stream) await StreamAsync(ctx, job, usage, req.Params, id, created, model.Id);
        else await RespondAsync(ctx, job, usage, req.Params.N, id, created, model.Id);
    }

    static async Task RespondAsync(HttpContext ctx, GenerationJob job, Task<ApiUsage> usage, int n, string id, long created, string modelId)
    {
        var content = Enumerable.Range(0, n).Select(_ => new StringBuilder()).ToArray();
        var reasoning = Enumerable.Range(0, n).Select(_ => new StringBuilder()).ToArray();
        var finish = new string[n];
        await foreach (var e in job.Events.ReadAllAsync(ctx.RequestAborted))
        {
            if (e is DeltaEvent d)
            {
                content[d.Index].Append(d.Delta.Content);
                reasoning[d.Index].Append(d.Delta.Reasoning);
            }
            else if (e is FinishEvent f) finish[f.Index] = f.FinishReason;
        }
        var u = await usage;
        var result = await job.Completion;
        var choices = Enumerable.Range(0, n).Select(i => new ChatChoice(i,
            new ChatMessageOut("assistant", content[i].ToString(), result.Choices[i].ReasoningTokens > 0 ? reasoning[i].ToString() : null),
            null, finish[i])).ToList();
        await ApiJson.WriteAsync(ctx.Response, new ChatCompletion(id, "chat.completion", created, modelId, choices, u));
    }

    static async Task StreamAsync(HttpContext ctx, GenerationJob job, Task<ApiUsage> usage, GenerationParams p, string id, long created, string modelId)
    {
        var ct = ctx.RequestAborted;
        var sse = new SseWriter(ctx.Response);
        ChatChunk Chunk(int index, ChatDelta delta, string? finish) =>
            new(id, "chat.completion.chunk", created, modelId, [new ChatChunkChoice(index, delta, null, finish)]);
        for (int i = 0; i < p.N; i++) await sse.WriteAsync(Chunk(i, new ChatDelta(Role: "assistant", Content: ""), null), ct);
        try
        {
            await foreach (var e in job.Events.ReadAllAsync(ct))
            {
                var chunk = e switch
                {
                    DeltaEvent d => Chunk(d.Index, new ChatDelta(Content: NullIfEmpty(d.Delta.Content), ReasoningContent: NullIfEmpty(d.Delta.Reasoning)), null),
                    FinishEvent f => Chunk(f.Index, new ChatDelta(), f.FinishReason),
                    _ => throw new UnreachableException(),
                };
                await sse.WriteAsync(chunk, ct);
            }
            var u = await usage;
            if (p.IncludeUsage) await sse.WriteAsync(new ChatChunk(id, "chat.completion.chunk", created, modelId, [], u), ct);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            await sse.ErrorAsync(StreamErrors.From(e, ctx), ct);
        }
        await sse.DoneAsync(ct);
    }

    static string? NullIfEmpty(string s) => s.Length == 0 ? null : s;
}
