using System.Threading.Channels;
using SeekSharp.Modeling;
using SeekSharp.Serving;

namespace SeekSharp.Tests.Server;

/// <summary>
/// Test double of the decoding engine: emits a scripted token sequence per request, so tests can assert
/// exact text, reasoning splits, stop handling and usage. It keeps the engine's contract (validation in
/// Submit, stop ids end generation unemitted, MaxTokens and context bound, cancellation frees the request)
/// and fakes a prefix cache: cached tokens = longest common prefix with any earlier prompt.
/// </summary>
sealed class ScriptedEngine(ModelConfig config, Func<GenerationRequest, IReadOnlyList<int>> script) : IGenerationEngine
{
    readonly List<int[]> seen = [];
    readonly Lock gate = new();
    long promptTokens, cachedTokens, completionTokens;
    int running;

    public ModelConfig Config { get; } = config;
    public TimeSpan TokenDelay { get; set; }
    public Exception? FailAfterFirstToken { get; set; }
    public List<GenerationRequest> Submitted { get; } = [];
    public int Cancelled;

    public GenerationHandle Submit(GenerationRequest request, CancellationToken cancellationToken = default)
    {
        if (request.Prompt.Count == 0) throw new SeekSharpException("prompt: expected at least one token.");
        if (request.Prompt.Count >= Config.MaxPositionEmbeddings) throw new SeekSharpException("prompt: too long for the context.");
        if (request.MaxTokens < 1) throw new SeekSharpException("max_tokens: expected 1 or more.");
        request.Sampling.Validate();
        int cached;
        lock (gate)
        {
            Submitted.Add(request);
            cached = seen.Select(s => s.Zip(request.Prompt).TakeWhile(p => p.First == p.Second).Count()).DefaultIfEmpty(0).Max();
            cached = Math.Min(cached, request.Prompt.Count - 1); // the last prompt token is always computed
            seen.Add([.. request.Prompt]);
        }
        var channel = Channel.CreateUnbounded<int>();
        var tokens = script(request);
        Interlocked.Increment(ref running);
        var completion = Task.Run(async () =>
        {
            int budget = Math.Min(request.MaxTokens, Config.MaxPositionEmbeddings - request.Prompt.Count), n = 0;
            var reason = FinishReason.Length;
            try
            {
                for (; n < budget; n++)
                {
                    if (cancellationToken.IsCancellationRequested) { reason = FinishReason.Cancelled; Interlocked.Increment(ref Cancelled); break; }
                    if (n >= tokens.Count || request.StopIds.Contains(tokens[n])) { reason = FinishReason.Stop; break; }
                    if (n == 1 && FailAfterFirstToken is { } e) throw e;
                    channel.Writer.TryWrite(tokens[n]);
                    if (TokenDelay > TimeSpan.Zero) await Task.Delay(TokenDelay, CancellationToken.None);
                }
                channel.Writer.TryComplete();
            }
            catch (Exception e)
            {
                channel.Writer.TryComplete(e);
                throw;
            }
            finally { Interlocked.Decrement(ref running); }
            Interlocked.Add(ref promptTokens, request.Prompt.Count);
            Interlocked.Add(ref cachedTokens, cached);
            Interlocked.Add(ref completionTokens, n);
            return new GenerationUsage(request.Prompt.Count, cached, n, reason);
        });
        return new GenerationHandle(channel.Reader, completion);
    }

    public EngineStats Stats() => new(Volatile.Read(ref running), 0, 0, 0, Interlocked.Read(ref promptTokens),
        Interlocked.Read(ref cachedTokens), Interlocked.Read(ref completionTokens), 0, 0);

    public void Dispose() { }
}
