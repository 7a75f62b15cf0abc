using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using SeekSharp.Server.Api;
using SeekSharp.Server.Auth;
using SeekSharp.Server.Generation;

namespace SeekSharp.Server.Endpoints;

/// <summary>What chat and text completions share: starting the job, collecting it, or streaming it as SSE.</summary>
static class GenerationResponder
{
    /// <summary>Submits the request's choices and books their usage to the caller when they finish.</summary>
    public static (GenerationJob Job, Task<ApiUsage> Usage) Start(HttpContext ctx, ServedModel model, Accounting accounting,
        IReadOnlyList<int> prompt, GenerationParams p, bool chat, string promptParam, long startedTimestamp)
    {
        var job = GenerationJob.Start(model, prompt, p, chat, promptParam, ctx.RequestAborted);
        // A server-side failure the client is told about in so many words (an ApiException, which neither the error
        // middleware nor StreamErrors logs) is still the operator's business.
        var log = ctx.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("SeekSharp.Server");
        job.Completion.ContinueWith(t =>
        {
            if (t.Exception?.InnerException is ApiException { Status: >= 500 } e) log.LogError("generation failed: {Message}", e.Message);
        }, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously);
        return (job, accounting.Settle(job, ctx.Features.Get<ApiCaller>() ?? ApiCaller.Anonymous, startedTimestamp));
    }

    /// <summary>The whole output of every choice, for a non-streaming response.</summary>
    public static async Task<(string[] Content, string[] Reasoning, string[] Finish)> CollectAsync(GenerationJob job, int n, CancellationToken ct)
    {
        var content = Enumerable.Range(0, n).Select(_ => new StringBuilder()).ToArray();
        var reasoning = Enumerable.Range(0, n).Select(_ => new StringBuilder()).ToArray();
        var finish = new string[n];
        await foreach (var e in job.Events.ReadAllAsync(ct))
        {
            if (e is DeltaEvent d)
            {
                content[d.Index].Append(d.Delta.Content);
                reasoning[d.Index].Append(d.Delta.Reasoning);
            }
            else if (e is FinishEvent f) finish[f.Index] = f.FinishReason;
        }
        return (content.Select(s => s.ToString()).ToArray(), reasoning.Select(s => s.ToString()).ToArray(), finish);
    }

    /// <summary>Streams the job as SSE: the opening chunks, one chunk per event, the usage chunk when asked, then [DONE].</summary>
    public static async Task StreamAsync<T>(HttpContext ctx, GenerationJob job, Task<ApiUsage> usage, IEnumerable<T> opening,
        Func<ChoiceEvent, T> chunk, Func<ApiUsage, T>? usageChunk)
    {
        var ct = ctx.RequestAborted;
        var sse = new SseWriter(ctx.Response);
        foreach (var c in opening) await sse.WriteAsync(c, ct);
        try
        {
            await foreach (var e in job.Events.ReadAllAsync(ct)) await sse.WriteAsync(chunk(e), ct);
            var u = await usage;
            if (usageChunk is not null) await sse.WriteAsync(usageChunk(u), ct);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            await sse.ErrorAsync(StreamErrors.From(e, ctx), ct);
        }
        await sse.DoneAsync(ct);
    }
}
