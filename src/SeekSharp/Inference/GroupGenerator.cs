using SeekSharp.Modeling;
using static TorchSharp.torch;

namespace SeekSharp.Inference;

// Many completions of many prompts, decoded in batches with one KV cache per batch. The model has no
// padding mask, so only prompts of equal token length share a batch: they then share every cache
// position, and each row is exactly what decoding it alone would compute. Prompts are bucketed by
// length and each bucket's rows (prompts × samples) decode together, up to maxRows at a time. Batching
// is nearly free here: a decoding step is dominated by per-layer overheads, so 64 rows cost little more
// than 8 (measured in docs/decisions/0009-grpo-and-the-r1-recipe.md). Rows that have stopped feed
// <|eos|> (output ignored) until half the batch has stopped; then the batch is compacted to its live rows. Each row has
// its own Random seeded by (seed, prompt index, sample index), so results do not depend on how rows
// were batched.

/// <summary>A generated completion: its ids (the stop token included when it stopped) and whether it stopped.</summary>
public sealed record GeneratedCompletion(int[] Ids, bool Finished);

/// <summary>Samples several completions per prompt in length-bucketed batches.</summary>
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
        int ctx = model.Config.MaxPositionEmbeddings;
        var result = new GeneratedCompletion[prompts.Count][];
        foreach (var bucket in Enumerable.Range(0, prompts.Count).GroupBy(i => prompts[i].Length))
        {
            int len = bucket.Key;
            if (len == 0) throw new SeekSharpException("prompt: expected at least one token.");
            if (len >= ctx) throw new SeekSharpException($"prompt: {len} tokens do not fit the context of {ctx} with room to generate.");
            int perBatch = Math.Max(1, maxRows / samples);
            foreach (var chunk in bucket.Chunk(perBatch))
            {
                var rows = chunk.SelectMany(p => Enumerable.Range(0, samples).Select(s => (Prompt: p, Sample: s))).ToArray();
                var outs = Decode(rows.Select(r => prompts[r.Prompt]).ToArray(), Math.Min(maxTokens, ctx - len), options,
                    rows.Select(r => new Random(RowSeed(seed, r.Prompt, r.Sample))).ToArray(), stopId);
                for (int i = 0; i < rows.Length; i++)
                {
                    result[rows[i].Prompt] ??= new GeneratedCompletion[samples];
                    result[rows[i].Prompt][rows[i].Sample] = outs[i];
                }
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

    GeneratedCompletion[] Decode(int[][] prompts, int budget, SamplingOptions options, Random[] rngs, int stopId)
    {
        int rows = prompts.Length, len = prompts[0].Length, vocab = model.Config.VocabSize;
        var outs = Enumerable.Range(0, rows).Select(_ => new List<int>()).ToArray();
        var done = new bool[rows];
        var device = model.parameters().First().device;
        using var cache = new KvCache(model.Config, rows, len + budget, model.ComputeType, device);
        KvCache? view = null;                                 // the first active.Length rows of cache, once compacted
        var active = Enumerable.Range(0, rows).ToArray();     // batch row i decodes row active[i]
        var input = new long[rows * len];
        for (int r = 0; r < rows; r++) for (int t = 0; t < len; t++) input[r * len + t] = prompts[r][t];
        var logits = new float[rows * vocab];
        try
        {
            for (int step = 0; step < budget; step++)
            {
                int n = active.Length, width = step == 0 ? len : 1, start = step == 0 ? 0 : len + step - 1;
                using (var scope = NewDisposeScope())
                using (no_grad())
                {
                    var x = tensor(input, [n, width]).to(device);
                    model.ForwardLast(x, start, view ?? cache).cpu().data<float>().CopyTo(logits, 0);
                }
                if (step == 0) input = new long[n];
                int live = 0;
                for (int i = 0; i < n; i++)
                {
                    int r = active[i];
                    if (done[r]) { input[i] = stopId; continue; }
                    int next = Sampler.Sample(logits.AsSpan(i * vocab, vocab), options, rngs[r]);
                    outs[r].Add(next);
                    input[i] = next;
                    if (next == stopId) done[r] = true;
                    else live++;
                }
                DecodedTokens += n;
                if (live == 0) break;
                // Once half the batch has stopped, the rows still running move to the front of the cache (their
                // positions 0..len+step) and decode on as a smaller batch: one long completion no longer keeps the
                // whole batch decoding. A row computes the same whichever batch row it occupies.
                if (live <= n / 2)
                {
                    var keep = Enumerable.Range(0, n).Where(i => !done[active[i]]).ToArray();
                    for (int k = 0; k < keep.Length; k++) cache.CopyRow(keep[k], k, len + step);
                    active = [.. keep.Select(i => active[i])];
                    input = [.. keep.Select(i => input[i])];
                    view?.Dispose();
                    view = cache.Slice(0, live);
                }
            }
        }
        finally { view?.Dispose(); }
        return outs.Select((o, r) => new GeneratedCompletion([.. o], done[r])).ToArray();
    }
}
