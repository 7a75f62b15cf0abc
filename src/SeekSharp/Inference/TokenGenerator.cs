using SeekSharp.Kernels;
using SeekSharp.Modeling;
using static TorchSharp.torch;

namespace SeekSharp.Inference;

// Single-sequence generation with a KV cache: one prefill pass over the prompt, then one token per
// step. `useCache: false` recomputes the whole prefix each step; it exists to check the cache against.

/// <summary>Autoregressive decoding for one prompt.</summary>
public sealed class TokenGenerator(Transformer model)
{
    /// <summary>Generates up to <paramref name="maxTokens"/> ids after <paramref name="prompt"/>; stops at any id in <paramref name="stopIds"/> (not included).</summary>
    public IEnumerable<int> Generate(IReadOnlyList<int> prompt, int maxTokens, SamplingOptions options, int seed,
        IReadOnlySet<int>? stopIds = null, bool useCache = true)
    {
        options.Validate();
        if (prompt.Count == 0) throw new SeekSharpException("prompt: expected at least one token.");
        int ctx = model.Config.MaxPositionEmbeddings;
        if (prompt.Count >= ctx)
            throw new SeekSharpException($"prompt: {prompt.Count} tokens do not fit the context of {ctx} with room to generate.");
        int budget = Math.Min(maxTokens, ctx - prompt.Count);
        var rng = new Random(seed);
        var tokens = new List<int>(prompt);
        using var cache = useCache ? new KvCache(model.Config, 1, prompt.Count + budget, model.ComputeType) : null;
        for (int step = 0; step < budget; step++)
        {
            float[] row;
            using (var scope = NewDisposeScope())
            using (no_grad()) // per step, not around the iterator: callers run between yields
            {
                int start = useCache && step > 0 ? tokens.Count - 1 : 0;
                var input = tensor(tokens.Skip(start).Select(t => (long)t).ToArray(), ScalarType.Int64).unsqueeze(0);
                row = TensorPointer.Floats(model.ForwardLast(input, start, cache));
            }
            int next;
            try { next = Sampler.Sample(row, options, rng); }
            catch (InvalidLogitsException e) { throw e.AtToken(step + 1); }
            if (stopIds is not null && stopIds.Contains(next)) yield break;
            tokens.Add(next);
            yield return next;
        }
    }
}
