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

/// <summary>A row of logits from which no token can be drawn: it holds NaN or +Inf, or every entry is -Inf. A model
/// only computes such a row from corrupt or diverged weights (or activations that overflowed), so it is an error of
/// the model, reported with the generated token it happened at when the caller knows it.</summary>
public sealed class InvalidLogitsException(string problem, int? token = null)
    : SeekSharpException($"the model produced NaN/Inf logits{(token is { } t ? $" at token {t}" : "")} ({problem}; corrupt or diverged weights).")
{
    /// <summary>What was wrong with the row, e.g. "NaN at id 17".</summary>
    public string Problem => problem;

    /// <summary>The generated token (1 = the first) whose logits were invalid; null when not known.</summary>
    public int? Token => token;

    /// <summary>The same error, placed at generated token <paramref name="index"/> (1-based).</summary>
    public InvalidLogitsException AtToken(int index) => new(problem, index);
}

/// <summary>Picks a token id from one row of logits.</summary>
public static class Sampler
{
    // Scratch per thread: a server samples many rows per step, and 4096-entry arrays per token add up.
    [ThreadStatic] static double[]? probs;
    [ThreadStatic] static int[]? order;
    [ThreadStatic] static double[]? keys;

    // Nucleus and top-k sampling walk the tokens in descending probability. Sorting the whole vocabulary
    // per token (~0.4 ms for 4096 here, per row and step of a serving batch) is avoided: one pass files
    // every token into a bucket by the binary exponent of p / p_max; buckets are accumulated from the top
    // until they hold mass P (and K tokens); only the tokens in those buckets can be in the nucleus, and
    // only they are sorted. The result is the same nucleus and the same descending walk as a full sort.
    // With top_p = 1 and no top_k every token is eligible and the walk goes in id order, without sorting:
    // the same distribution, though a seed picks a different token than a sorted walk would.
    const int Buckets = 64;

    /// <exception cref="InvalidLogitsException">the row holds NaN or +Inf, or only -Inf</exception>
    public static int Sample(ReadOnlySpan<float> logits, SamplingOptions opt, Random rng)
    {
        if (opt.Temperature == 0) return ArgMax(logits);
        int v = logits.Length;
        var p = probs is { } pa && pa.Length >= v ? pa : probs = new double[v];
        float max = logits[ArgMax(logits)]; // checked: finite, so every p below is in [0, 1] and sum >= 1
        double sum = 0;
        for (int i = 0; i < v; i++) { p[i] = Math.Exp((logits[i] - max) / opt.Temperature); sum += p[i]; }
        int topK = opt.TopK > 0 && opt.TopK < v ? opt.TopK : v;
        if (opt.TopP >= 1 && topK == v) return Walk(p.AsSpan(0, v), sum, rng);

        // p (already relative to the largest) is in (0, 1]; bucket b holds p in [2^-b, 2^-(b-1)), the last one the rest.
        Span<double> bucketMass = stackalloc double[Buckets];
        Span<int> bucketCount = stackalloc int[Buckets];
        bucketMass.Clear();
        bucketCount.Clear();
        for (int i = 0; i < v; i++)
        {
            int b = Bucket(p[i]);
            bucketMass[b] += p[i];
            bucketCount[b]++;
        }
        int last = 0, count = 0;
        double mass = 0;
        for (; last < Buckets - 1; last++)
        {
            mass += bucketMass[last];
            count += bucketCount[last];
            if (mass >= opt.TopP * sum * (1 + 1e-9) || count >= topK) break; // margin: the walk below sums in another order
        }
        var idx = order is { } oa && oa.Length >= v ? oa : order = new int[v];
        var key = keys is { } ka && ka.Length >= v ? ka : keys = new double[v];
        int m = 0;
        for (int i = 0; i < v; i++)
            if (Bucket(p[i]) <= last) { idx[m] = i; key[m] = -p[i]; m++; } // negated: ascending sort = descending p
        key.AsSpan(0, m).Sort(idx.AsSpan(0, m));

        int keep = Math.Min(topK, m);
        double cum = 0;
        for (int i = 0; i < keep; i++)
        {
            cum += p[idx[i]] / sum;
            if (cum >= opt.TopP) { keep = i + 1; break; }
        }
        double total = 0;
        for (int i = 0; i < keep; i++) total += p[idx[i]];
        double r = rng.NextDouble() * total;
        for (int i = 0; i < keep; i++) { r -= p[idx[i]]; if (r <= 0) return idx[i]; }
        return idx[keep - 1];
    }

    /// <summary>-floor(log2 p) for p in (0, 1], capped: a larger p never lands in a later bucket.</summary>
    static int Bucket(double p) => p <= 0 ? Buckets - 1 : Math.Min(Buckets - 1, -Math.ILogB(p));

    /// <summary>Draws from all tokens in proportion to p, in id order.</summary>
    static int Walk(ReadOnlySpan<double> p, double sum, Random rng)
    {
        double r = rng.NextDouble() * sum;
        for (int i = 0; i < p.Length; i++) { r -= p[i]; if (r <= 0) return i; }
        return p.Length - 1;
    }

    // -Inf is a legitimate logit (a masked token, probability 0); NaN and +Inf are not: a NaN compares false
    // with everything, so argmax would return an arbitrary id and exp(NaN) would file a token under bucket
    // -int.MaxValue. The check costs nothing: it is the comparison the argmax makes anyway.
    /// <summary>The id of the largest logit (the first of equals).</summary>
    /// <exception cref="InvalidLogitsException">the row holds NaN or +Inf, or only -Inf</exception>
    public static int ArgMax(ReadOnlySpan<float> logits)
    {
        if (logits.Length == 0) throw new ArgumentException("expected at least one logit.", nameof(logits));
        int best = 0;
        for (int i = 0; i < logits.Length; i++)
        {
            float x = logits[i];
            if (!(x < float.PositiveInfinity)) throw new InvalidLogitsException($"{(float.IsNaN(x) ? "NaN" : "+Inf")} at id {i}");
            if (x > logits[best]) best = i;
        }
        if (float.IsNegativeInfinity(logits[best])) throw new InvalidLogitsException("every logit is -Inf");
        return best;
    }
}
