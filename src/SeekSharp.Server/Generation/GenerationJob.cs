using System.Diagnostics;
using System.Threading.Channels;
using SeekSharp.Inference;
using SeekSharp.Server.Api;
using SeekSharp.Serving;

namespace SeekSharp.Server.Generation;

// One API request = n engine requests (one per choice), decoded concurrently into one ordered stream of
// events. A choice whose stop sequence matched cancels its own engine request, which frees its batch slot;
// a client that goes away cancels all of them (the request's abort token is linked in). Usage is always
// collected, even after an abort, because the tokens were computed and are billed.

public abstract record ChoiceEvent(int Index);

public sealed record DeltaEvent(int Index, TextDelta Delta) : ChoiceEvent(Index);

/// <param name="FinishReason">OpenAI's: "stop" (end of turn or a stop sequence) or "length".</param>
public sealed record FinishEvent(int Index, string FinishReason) : ChoiceEvent(Index);

/// <summary>What each choice consumed, in choice order.</summary>
public sealed record JobResult(IReadOnlyList<(GenerationUsage Usage, int ReasoningTokens)> Choices);

/// <summary>The engine requests behind one API request, and their decoded output.</summary>
public sealed class GenerationJob
{
    readonly Channel<ChoiceEvent> events = Channel.CreateUnbounded<ChoiceEvent>(new UnboundedChannelOptions { SingleReader = true });
    readonly long started = Stopwatch.GetTimestamp();
    long firstToken;

    GenerationJob() { }

    public ChannelReader<ChoiceEvent> Events => events.Reader;

    /// <summary>Completes when every choice has finished; faults with the engine's error.</summary>
    public Task<JobResult> Completion { get; private set; } = null!;

    /// <summary>Seconds from the start of the job to its first generated token; null if none came.</summary>
    public double? TimeToFirstToken => Volatile.Read(ref firstToken) is var t and > 0 ? Stopwatch.GetElapsedTime(started, t).TotalSeconds : null;

    /// <param name="chat">chat completion (reasoning split, specials dropped) or raw text completion</param>
    /// <param name="promptParam">the request field the prompt came from, named when it is too long</param>
    public static GenerationJob Start(ServedModel model, IReadOnlyList<int> prompt, GenerationParams p, bool chat,
        string promptParam, CancellationToken aborted)
    {
        int room = model.ContextLength - prompt.Count;
        if (room < 1)
            throw ApiException.BadRequest(promptParam,
                $"The prompt is {prompt.Count} tokens, which leaves no room to generate in this model's context of {model.ContextLength} tokens.",
                "context_length_exceeded");
        int maxTokens = Math.Min(p.MaxTokens ?? room, room); // clamped, not refused: finish_reason says "length"
        int seed = p.Seed ?? Random.Shared.Next();
        var sampling = new SamplingOptions(p.Temperature, p.TopP);
        var stopIds = new HashSet<int> { model.Tokenizer.EosId };
        var job = new GenerationJob();
        var running = new List<Task<(GenerationUsage, int)>>();
        var sources = new List<CancellationTokenSource>();
        try
        {
            for (int i = 0; i < p.N; i++)
            {
                var cts = CancellationTokenSource.CreateLinkedTokenSource(aborted);
                sources.Add(cts);
                GenerationHandle handle;
                try { handle = model.Engine.Submit(new GenerationRequest(prompt, maxTokens, sampling, unchecked(seed + i), stopIds), cts.Token); }
                catch (SeekSharpException e) { throw ApiException.BadRequest(null, e.Message); }
                var decoder = new ChoiceDecoder(model.Tokenizer, p.Stop, chat);
                int index = i;
                running.Add(Task.Run(() => job.RunChoice(index, handle, decoder, cts, prompt.Count)));
            }
        }
        catch
        {
            foreach (var s in sources) s.Cancel();
            throw;
        }
        job.Completion = job.FinishAll(running, sources);
        return job;
    }

    async Task<(GenerationUsage, int)> RunChoice(int index, GenerationHandle handle, ChoiceDecoder decoder, CancellationTokenSource cts, int promptTokens)
    {
        int received = 0;
        try
        {
            await foreach (var id in handle.Tokens.ReadAllAsync(CancellationToken.None))
            {
                if (received++ == 0) Interlocked.CompareExchange(ref firstToken, Stopwatch.GetTimestamp(), 0);
                if (decoder.Stopped) continue; // tokens the engine sampled before it saw the cancellation
                var delta = decoder.Push(id);
                if (!delta.IsEmpty) events.Writer.TryWrite(new DeltaEvent(index, delta));
                if (decoder.Stopped) cts.Cancel();
            }
        }
        catch (Exception e) when (cts.IsCancellationRequested && e is OperationCanceledException or ChannelClosedException) { }
        GenerationUsage usage;
        try { usage = await handle.Completion; }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            // An engine may end a cancelled request by cancelling its task: bill what was received.
            usage = new GenerationUsage(promptTokens, 0, received, FinishReason.Cancelled);
        }
        var tail = decoder.Flush();
        if (!tail.IsEmpty) events.Writer.TryWrite(new DeltaEvent(index, tail));
        string finish = !decoder.Stopped && usage.FinishReason == FinishReason.Length ? "length" : "stop";
        events.Writer.TryWrite(new FinishEvent(index, finish));
        return (usage, decoder.ReasoningTokens);
    }

    /// <summary>An engine error the client may be told about, as the API error it answers; others stay internal (500
    /// without details). Invalid logits are the served model's fault, not the request's: a 500 that says so.</summary>
    static Exception ClientError(Exception e) => e is InvalidLogitsException bad
        ? new ApiException(500, $"The model produced NaN/Inf logits{(bad.Token is { } t ? $" at token {t}" : "")} while generating this response: its weights are corrupt or diverged.",
            type: "server_error", code: "model_error")
        : e;

    async Task<JobResult> FinishAll(List<Task<(GenerationUsage, int)>> running, List<CancellationTokenSource> sources)
    {
        try
        {
            var all = Task.WhenAll(running);
            try { await all; }
            catch
            {
                foreach (var s in sources) s.Cancel(); // one choice failed: the others are of no use
                try { await Task.WhenAll(running); } catch { }
                var error = ClientError(all.Exception!.InnerExceptions[0]);
                events.Writer.TryComplete(error);
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(error);
                throw; // unreachable
            }
            events.Writer.TryComplete();
            return new JobResult(running.Select(t => t.Result).ToList());
        }
        finally
        {
            foreach (var s in sources) s.Dispose();
        }
    }
}
