using SeekSharp.Kernels;
using SeekSharp.Modeling;
using static TorchSharp.torch;

namespace SeekSharp.Inference;

// Many completions of many prompts, decoded in batches of up to maxRows rows (prompts × samples) with one
// KV cache per batch. Prompts of different lengths share a batch the way the serving engine's requests do:
// each row has its own positions (RowPositions). The prefill right-pads every prompt to the longest; the
// pad tokens sit after the prompt, so no prompt token attends them, each row's logits are read at its own
// last prompt token, and decoding overwrites the pads (a row's queries are masked to its own positions).
// A batch whose rows all have one length takes the shared-position path, with no mask. Each row is what
// decoding it alone would compute (up to the rounding of a different batch shape), and each row has its own
// Random seeded by (seed, prompt index, sample index), so results do not depend on how rows were batched.
// Batching is nearly free on a CPU: a decoding step is dominated by per-layer overheads, so 64 rows cost
// little more than 8 (measured in docs/decisions/0009-grpo-and-the-r1-recipe.md). Rows that have stopped
// are fed their last token (output ignored) until half the batch has stopped; then the batch is compacted to its live
// rows, so one long completion does not keep the whole batch decoding.

/// <summary>A generated completion: its ids (the stop token included when it stopped) and whether it stopped.</summary>
public sealed record GeneratedCompletion(int[] Ids, bool Finished);

/// <summary>Samples several completions per prompt in batches of mixed prompt lengths.</summary>
public sealed class GroupGenerator(Transformer model, int maxRows = 64)
{
    /// <summary>Decoding steps run and rows decoded (for throughput figures).</summary>
    public long DecodedTokens { get; private set; }

    /// <returns>For each prompt, <paramref name="samples"/> completions.</returns>
    public GeneratedCompletion[][] Generate(IReadOnlyList<int[]> prompts, int samples, int maxTokens, SamplingOptions options, int seed,
        int stopId)
    {
        options.Validate();
        if (samples < 1) throw new SeekSharpException($"samples: expected 1 or more, got {samples}.");
        if (maxTokens < 1) throw new SeekSharpException($"max tokens: expected 1 or more, got {maxTokens}.");
        int ctx = model.Config.MaxPositionEmbeddings;
        foreach (var p in prompts)
        {
            if (p.Length == 0) throw new SeekSharpException("prompt: expected at least one token.");
            if (p.Length >= ctx) throw new SeekSharpException($"prompt: {p.Length} tokens do not fit the context of {ctx} with room to generate.");
        }
        var result = new GeneratedCompletion[prompts.Count][];
        int perBatch = Math.Max(1, maxRows / samples);
        // Shortest prompts first, so that a batch mixes as few lengths as it can: a batch of one length takes the
        // shared-position path, which is cheaper than per-row positions (no mask, no scatter into the cache).
        foreach (var chunk in Enumerable.Range(0, prompts.Count).OrderBy(i => prompts[i].Length).Chunk(perBatch))
        {
            var rows = chunk.SelectMany(p => Enumerable.Range(0, samples).Select(s => (Prompt: p, Sample: s))).ToArray();
            var outs = Decode(rows.Select(r => prompts[r.Prompt]).ToArray(), maxTokens, options,
                rows.Select(r => new Random(RowSeed(seed, r.Prompt, r.Sample))).ToArray(), stopId);
            for (int i = 0; i < rows.Length; i++)
            {
                result[rows[i].Prompt] ??= new GeneratedCompletion[samples];
                result[rows[i].Prompt][rows[i].Sample] = outs[i];
            }
        }
        return result;
    }

    /// <summary>A stable seed per (seed, prompt, sample) (HashCode.Combine is randomized per process).</summary>
    public static int RowSeed(int seed, int prompt, int sample)
    {
        ulong z = ((ulong)(uint)seed << 32 | (uint)prompt) * 0x9E3779B97F4A7C15UL + (ulong)(uint)sample;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return (int)((z ^ (z >> 31)) & 0x7FFF_FFFF);
    }

    GeneratedCompletion[] Decode(int[][] prompts, int maxTokens, SamplingOptions options, Random[] rngs, int stopId)
    {
        int rows = prompts.Length, vocab = model.Config.VocabSize, ctx = model.Config.MaxPositionEmbeddings;
        var lens = prompts.Select(p => p.Length).ToArray();
        var budget = lens.Select(l => Math.Min(maxTokens, ctx - l)).ToArray();   // completion tokens each row may add
        int width = lens.Max();
        var outs = Enumerable.Range(0, rows).Select(_ => new List<int>()).ToArray();
        var done = new bool[rows];       // stopped, or out of budget
        var finished = new bool[rows];   // stopped
        var device = model.parameters().First().device;
        using var cache = new KvCache(model.Config, rows, Enumerable.Range(0, rows).Max(r => lens[r] + budget[r]), model.ComputeType, device);
        KvCache? view = null;                                 // the first active.Length rows of cache, once compacted
        var active = Enumerable.Range(0, rows).ToArray();     // batch row i decodes row active[i]
        var input = new long[rows * width];                   // prompts right-padded with id 0
        for (int r = 0; r < rows; r++) for (int t = 0; t < lens[r]; t++) input[r * width + t] = prompts[r][t];
        var logits = new float[rows * vocab];
        try
        {
            for (int step = 0; ; step++)
            {
                int n = active.Length;
                using (var scope = NewDisposeScope())
                using (no_grad())
                {
                    var next = Forward(step == 0 ? tensor(input, [n, width]) : tensor(input, [n, 1]), step, active, lens, width, view ?? cache);
                    TensorPointer.CopyFloats(next, logits.AsSpan(0, (int)next.numel()));
                }
                if (step == 0) input = new long[n];
                int live = 0;
                for (int i = 0; i < n; i++)
                {
                    int r = active[i];
                    if (done[r]) continue;   // fed its last token again; the output is ignored
                    int next;
                    try { next = Sampler.Sample(logits.AsSpan(i * vocab, vocab), options, rngs[r]); }
                    catch (InvalidLogitsException e) { throw e.AtToken(outs[r].Count + 1); } // ends the whole call: its results come together
                    outs[r].Add(next);
                    input[i] = next;
                    if (next == stopId) done[r] = finished[r] = true;
                    else if (outs[r].Count >= budget[r]) done[r] = true;
                    else live++;
                }
                DecodedTokens += n;
                if (live == 0) break;
                if (live <= n / 2)
                {
                    // The rows still running move to the front of the cache (every position written so far) and
                    // decode on as a smaller batch.
                    var keep = Enumerable.Range(0, n).Where(i => !done[active[i]]).ToArray();
                    for (int k = 0; k < keep.Length; k++) cache.CopyRow(keep[k], k, Math.Min(cache.MaxLength, width + step));
                    active = [.. keep.Select(i => active[i])];
                    input = [.. keep.Select(i => input[i])];
                    view?.Dispose();
                    view = cache.Slice(0, live);
                }
            }
        }
        finally { view?.Dispose(); }
        return outs.Select((o, r) => new GeneratedCompletion([.. o], finished[r])).ToArray();
    }

    /// <summary>Logits of the next token of every active row: the prefill (step 0) reads each row at its last prompt
    /// token; decoding step s feeds each row's previous token at position length + s − 1.</summary>
    Tensor Forward(Tensor ids, int step, int[] active, int[] lens, int width, KvCache cache)
    {
        var device = cache.Layers[0].A.device;
        ids = ids.to(device);
        int first = lens[active[0]];
        if (active.All(r => lens[r] == first)) // one prompt length: the shared-position path
            return step == 0 ? model.ForwardLast(ids.narrow(1, 0, first), 0, cache) : model.ForwardLast(ids, first + step - 1, cache);
        if (step == 0)
        {
            using var rows0 = new RowPositions(new int[active.Length], width, device);
            return model.ForwardLast(ids, new Positions(0, rows0), cache, [.. active.Select(r => lens[r] - 1)]);
        }
        // A row that has used its budget while others decode on is fed at its last cache position (its output is ignored).
        using var rows = new RowPositions([.. active.Select(r => Math.Min(lens[r] + step - 1, cache.MaxLength - 1))], 1, device);
        return model.ForwardLast(ids, new Positions(0, rows), cache);
    }
}
