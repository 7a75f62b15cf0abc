using System.Diagnostics;
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
        app.MapPost("/v1/chat/completions", HandleAsync).WithMetadata(Metered.Instance);

    static async Task HandleAsync(HttpContext ctx, ServedModel model, ServerOptions options, Accounting accounting)
    {
        long started = Stopwatch.GetTimestamp();
        var body = await JsonBody.ReadObjectAsync(ctx.Request, options.MaxBodyBytes, ctx.RequestAborted);
        var req = ChatRequest.Parse(body, model, options.MaxChoices);
        var p = req.Params;
        var prompt = ChatTemplate.EncodeChat(model.Tokenizer, req.Messages, addGenerationPrompt: true).Ids;
        var (job, usage) = GenerationResponder.Start(ctx, model, accounting, prompt, p, chat: true, "messages", started);
        string id = "chatcmpl-" + Guid.NewGuid().ToString("N");
        long created = ApiJson.UnixNow();
        if (!p.Stream)
        {
            var (content, reasoning, finish) = await GenerationResponder.CollectAsync(job, p.N, ctx.RequestAborted);
            var u = await usage;
            var result = await job.Completion;
            var choices = Enumerable.Range(0, p.N).Select(i => new ChatChoice(i,
                new ChatMessageOut("assistant", content[i], result.Choices[i].ReasoningTokens > 0 ? reasoning[i] : null), null, finish[i])).ToList();
            await ApiJson.WriteAsync(ctx.Response, new ChatCompletion(id, "chat.completion", created, model.Id, choices, u));
            return;
        }
        ChatChunk Chunk(int index, ChatDelta delta, string? finish) =>
            new(id, "chat.completion.chunk", created, model.Id, [new ChatChunkChoice(index, delta, null, finish)]);
        await GenerationResponder.StreamAsync(ctx, job, usage,
            Enumerable.Range(0, p.N).Select(i => Chunk(i, new ChatDelta(Role: "assistant", Content: ""), null)),
            e => e switch
            {
                DeltaEvent d => Chunk(d.Index, new ChatDelta(Content: NullIfEmpty(d.Delta.Content), ReasoningContent: NullIfEmpty(d.Delta.Reasoning)), null),
                FinishEvent f => Chunk(f.Index, new ChatDelta(), f.FinishReason),
                _ => throw new UnreachableException(),
            },
            p.IncludeUsage ? u => new ChatChunk(id, "chat.completion.chunk", created, model.Id, [], u) : null);
    }

    static string? NullIfEmpty(string s) => s.Length == 0 ? null : s;
}
