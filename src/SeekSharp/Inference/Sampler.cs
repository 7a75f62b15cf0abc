namespace SeekSharp.Inference;

// Sampling runs on a host copy of the last logits: one row of a few thousand floats per token, so the
// copy is cheap, and a System.Random seeded per request makes `--seed` reproducible across thread
// counts and devices, which libtorch's generators do not promise.

/// <summary>How to pick the next token.</summary>
/// <param name="Temperature">0 means greedy (argmax).</param>
/// <param name="TopP">Nucleus: sample from the smallest set of tokens whose probability reaches P.</param>
/// <param name="TopK">Keep only the K most likely tokens; 0 = all.</param>
public sealed record SamplingOptions(double Temperature = 0.8, double TopP = 0.95, int TopK = 0)
{
    public SamplingOptions Validate()
    {
        if (!(Temperature >= 0) || Temperature > 100) throw new SeekSharpException($"temperature: expected a number in [0, 100], got {Temperature}.");
        if (!(TopP > 0) || TopP > 1) throw new SeekSharpException($"top_p: expected a number in (0, 1], got {TopP}.");
        if (TopK < 0) throw new SeekSharpException($"top_k: expected 0 or more, got {TopK}.");
        return this;
    }
}

/// <summary>Picks a token id from one row of logits.</summary>
public static class Sampler
{
    public static int Sample(ReadOnlySpan<float> logits, SamplingOptions opt, Random rng)
    {
        if (opt.Temperature == 0) return ArgMax(logits);
        if (opt.TopP >= 1 && opt.TopK == 0) return SampleFull(logits, opt.Temperature, rng);
        int v = logits.Length;
        var idx = new int[v];
        var p = new double[v];
        double max = double.NegativeInfinity;
        for (int i = 0; i < v; i++) max = Math.Max(max, logits[i]);
        double sum = 0;
        for (int i = 0; i < v; i++) { idx[i] = i; p[i] = Math.Exp((logits[i] - max) / opt.Temperature); sum += p[i]; }
        Array.Sort(p, idx);                                  // ascending
        Array.Reverse(p); Array.Reverse(idx);
        int keep = opt.TopK > 0 ? Math.Min(opt.TopK, v) : v;
        double cum = 0;
        for (int i = 0; i < keep; i++)
        {
            cum += p[i] / sum;
            if (cum >= opt.TopP) { keep = i + 1; break; }
        }
        double total = 0;
        for (int i = 0; i < keep; i++) total += p[i];
        double r = rng.NextDouble() * total;
        for (int i = 0; i < keep; i++) { r -= p[i]; if (r <= 0) return idx[i]; }
        return idx[keep - 1];
    }

    // Without truncation there is nothing to sort: one pass for the normalizer, one to walk the CDF.
    // RL samples this way (the loss must score the distribution that sampled), many rows per token,
    // where sorting the vocabulary per row cost more than the model's decoding step.
    static int SampleFull(ReadOnlySpan<float> logits, double temperature, Random rng)
    {
        double max = double.NegativeInfinity;
        for (int i = 0; i < logits.Length; i++) max = Math.Max(max, logits[i]);
        double sum = 0;
        for (int i = 0; i < logits.Length; i++) sum += Math.Exp((logits[i] - max) / temperature);
        double r = rng.NextDouble() * sum;
        for (int i = 0; i < logits.Length; i++)
        {
            r -= Math.Exp((logits[i] - max) / temperature);
            if (r <= 0) return i;
        }
        return ArgMax(logits);
    }

    public static int ArgMax(ReadOnlySpan<float> logits)
    {
        int best = 0;
        for (int i = 1; i < logits.Length; i++) if (logits[i] > logits[best]) best = i;
        return best;
    }
}
