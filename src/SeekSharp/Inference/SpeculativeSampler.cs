namespace SeekSharp.Inference;

// Speculative sampling (Leviathan et al. 2023; Chen et al. 2023), the acceptance rule that keeps the target model's
// distribution: a draft token d drawn from the draft distribution q is kept with probability min(1, p(d)/q(d)),
// otherwise the token is drawn from norm(max(0, p - q)). Then P(token = x) = p(x) exactly. Both p and q are the
// distributions the request's sampling options define (temperature, top-k, top-p) over the two models' logits. With
// temperature 0 both are one-hot at the argmax: the draft is kept exactly when it is the target's argmax, so greedy
// output is the main model's. Decision 0021.

/// <summary>Drafting and verification of one speculative token.</summary>
public static class SpeculativeSampler
{
    /// <summary>The distribution <see cref="Sampler.Sample"/> draws from: softmax at the temperature, restricted to
    /// the top-k tokens and then the nucleus of mass top_p (ties broken by id), renormalized. Temperature 0: one-hot.</summary>
    public static double[] Distribution(ReadOnlySpan<float> logits, SamplingOptions opt)
    {
        int v = logits.Length, best = Sampler.ArgMax(logits);   // checks the row (NaN, +Inf, all -Inf)
        var p = new double[v];
        if (opt.Temperature == 0) { p[best] = 1; return p; }
        float max = logits[best];
        double sum = 0;
        for (int i = 0; i < v; i++) { p[i] = Math.Exp((logits[i] - max) / opt.Temperature); sum += p[i]; }
        int topK = opt.TopK > 0 && opt.TopK < v ? opt.TopK : v;
        if (topK < v || opt.TopP < 1)
        {
            var order = Enumerable.Range(0, v).OrderByDescending(i => p[i]).ThenBy(i => i).ToArray();
            int keep = topK;
            double cum = 0;
            for (int i = 0; i < keep; i++) { cum += p[order[i]] / sum; if (cum >= opt.TopP) { keep = i + 1; break; } }
            var kept = new bool[v];
            for (int i = 0; i < keep; i++) kept[order[i]] = true;
            sum = 0;
            for (int i = 0; i < v; i++) { if (!kept[i]) p[i] = 0; sum += p[i]; }
        }
        for (int i = 0; i < v; i++) p[i] /= sum;
        return p;
    }

    /// <summary>Draws the draft token from q (its argmax at temperature 0).</summary>
    public static int Draw(double[] q, Random rng)
    {
        double r = rng.NextDouble();
        int last = 0;
        for (int i = 0; i < q.Length; i++)
        {
            if (q[i] <= 0) continue;
            last = i;
            r -= q[i];
            if (r <= 0) return i;
        }
        return last;
    }

    /// <summary>Verifies draft <paramref name="draft"/> (drawn from <paramref name="q"/>) against the target
    /// distribution <paramref name="p"/>: the token to emit, and whether it is the draft.</summary>
    public static (int Token, bool Accepted) Verify(double[] p, double[] q, int draft, Random rng)
    {
        // One-hot q and p (greedy): accepted exactly when the argmaxes agree; no random number is drawn.
        if (q[draft] >= 1 && p[draft] >= 1) return (draft, true);
        if (q[draft] >= 1 && IsOneHot(p, out var target)) return (target, false);
        if (rng.NextDouble() * q[draft] < p[draft]) return (draft, true);   // u < p/q, without dividing
        var residual = new double[p.Length];
        double sum = 0;
        for (int i = 0; i < p.Length; i++) { residual[i] = Math.Max(0, p[i] - q[i]); sum += residual[i]; }
        if (sum <= 0) return (Draw(p, rng), false);                       // p == q up to rounding: never rejected in exact arithmetic
        for (int i = 0; i < p.Length; i++) residual[i] /= sum;
        return (Draw(residual, rng), false);
    }

    static bool IsOneHot(double[] p, out int at)
    {
        at = Array.IndexOf(p, 1.0);
        return at >= 0;
    }
}
