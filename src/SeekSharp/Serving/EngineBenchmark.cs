using System.Diagnostics;
using SeekSharp.Inference;
using SeekSharp.Modeling;

namespace SeekSharp.Serving;

// In-process decode throughput of the engine, without HTTP: N clients each submit one greedy request
// of the same length at once, and aggregate generated tokens/s is compared across client counts. Prompts
// are distinct random ids (no prefix-cache hits) and there are no stop ids, so every request generates
// exactly its budget. Client counts alternate round by round so that load from other processes on the
// machine spreads over all of them.

/// <summary>One measurement: <see cref="Clients"/> concurrent requests of <see cref="TokensPerRequest"/> tokens.</summary>
/// <param name="TokensPerSecond">Generated tokens over wall time, prefills included.</param>
/// <param name="DecodeTokensPerSecond">Rows decoded over the time spent in decode steps: the batching gain alone.</param>
/// <param name="CpuMsPerToken">Process CPU time per generated token: steadier than wall time on a shared machine.</param>
public sealed record EngineBenchResult(int Round, int Clients, int TokensPerRequest, int PromptTokens, long Tokens, double Seconds,
    double TokensPerSecond, double DecodeTokensPerSecond, double MeanBatch, double MsPerStep, double CpuMsPerToken, double? AcceptanceRate = null);

public static class EngineBenchmark
{
    /// <summary>Runs every client count once per round, after an untimed warm-up.</summary>
    public static IReadOnlyList<EngineBenchResult> Run(IGenerationEngine engine, IReadOnlyList<int> clients, int tokensPerRequest,
        int promptTokens, int rounds, Action<string>? progress = null)
    {
        if (clients.Count == 0 || clients.Any(c => c < 1)) throw new SeekSharpException("clients: expected one or more counts, each 1 or more.");
        if (tokensPerRequest < 1) throw new SeekSharpException($"tokens: expected 1 or more, got {tokensPerRequest}.");
        int ctx = engine.Config.MaxPositionEmbeddings;
        if (promptTokens < 1 || promptTokens + tokensPerRequest > ctx)
            throw new SeekSharpException($"prompt tokens: expected 1 or more with prompt + tokens <= the context ({ctx}), got {promptTokens} + {tokensPerRequest}.");
        var rng = new Random(1234);
        int[] Prompt() => Enumerable.Range(0, promptTokens).Select(_ => rng.Next(engine.Config.VocabSize)).ToArray();
        // Untimed warm-up at every batch size: the first steps at a new size pay for allocations and first calls.
        foreach (int c in clients.Distinct())
            Generate(engine, Enumerable.Range(0, c).Select(_ => Prompt()).ToArray(), Math.Min(8, tokensPerRequest));
        var results = new List<EngineBenchResult>();
        for (int round = 1; round <= rounds; round++)
            foreach (int c in clients)
            {
                progress?.Invoke($"round {round}: {c} client(s) x {tokensPerRequest} tokens");
                var before = engine.Stats();
                var cpu = Process.GetCurrentProcess().TotalProcessorTime;
                var sw = Stopwatch.StartNew();
                long tokens = Generate(engine, Enumerable.Range(0, c).Select(_ => Prompt()).ToArray(), tokensPerRequest);
                double s = sw.Elapsed.TotalSeconds;
                double cpuMs = (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalMilliseconds;
                var after = engine.Stats();
                long steps = after.DecodeSteps - before.DecodeSteps, rows = after.DecodeRows - before.DecodeRows;
                double decode = after.DecodeSeconds - before.DecodeSeconds;
                results.Add(new EngineBenchResult(round, c, tokensPerRequest, promptTokens, tokens, s, tokens / s,
                    decode > 0 ? rows / decode : 0, steps == 0 ? 0 : (double)rows / steps, steps == 0 ? 0 : decode * 1000 / steps, cpuMs / tokens,
                    after.DraftedTokens > before.DraftedTokens ? (double)(after.AcceptedDrafts - before.AcceptedDrafts) / (after.DraftedTokens - before.DraftedTokens) : null));
            }
        return results;
    }

    /// <summary>Submits all prompts at once and waits for all; returns the tokens generated.</summary>
    static long Generate(IGenerationEngine engine, int[][] prompts, int tokens)
    {
        var greedy = new SamplingOptions(Temperature: 0);
        var handles = prompts.Select(p => engine.Submit(new GenerationRequest(p, tokens, greedy, 0, new HashSet<int>()))).ToArray();
        var usages = Task.WhenAll(handles.Select(async h =>
        {
            await foreach (var _ in h.Tokens.ReadAllAsync()) { }
            return await h.Completion;
        })).GetAwaiter().GetResult();
        return usages.Sum(u => (long)u.CompletionTokens);
    }
}
