using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using SeekSharp.Native;

namespace SeekSharp.Modeling;

// DeepSeek-V3 router. Affinities s = sigmoid(x Wᵀ) (fp32). Experts are *selected* by top-k of s + b,
// where b (e_score_correction_bias) is a per-expert bias that never enters the gate values or the
// gradient: the auxiliary-loss-free balancing of the paper. After each optimizer step the trainer calls
// UpdateBias: b_i += γ·sign(mean load − load_i), pushing tokens from busy experts to idle ones.
// The gate also returns the optional sequence-wise balance loss (paper eq. 17-20).

/// <summary>Top-k expert selection with bias-based load balancing.</summary>
public sealed class Gate : nn.Module
{
    public readonly Parameter weight;                 // (E, D)
    readonly Tensor e_score_correction_bias;             // (E) buffer, saved with the weights
    readonly int topK, experts;
    readonly bool sigmoidScores, normTopk, useBias;
    readonly double scale, alpha;
    readonly long[] routed;                                // tokens routed per expert since the last reset

    public Gate(ModelConfig cfg) : base("gate")
    {
        experts = cfg.NRoutedExperts;
        topK = cfg.NumExpertsPerTok;
        sigmoidScores = cfg.ScoringFunc == "sigmoid";
        normTopk = cfg.NormTopkProb;
        useBias = cfg.TopkMethod == "noaux_tc";
        scale = cfg.RoutedScalingFactor;
        alpha = cfg.AuxLossAlpha;
        weight = new Parameter(Scalars.Normal(0, 0.02, [experts, cfg.HiddenSize]));
        e_score_correction_bias = zeros(experts);
        routed = new long[experts];
        RegisterComponents();
    }

    /// <summary>Routing decision for N tokens.</summary>
    /// <param name="x">(N, D) tokens.</param>
    /// <param name="seqLen">Tokens per sequence, for the sequence-wise balance loss.</param>
    /// <returns>Indices (N, k) long, weights (N, k) fp32, the balance loss (scalar) or null, and the number of
    /// (token, expert) pairs per expert, on the host (dispatch needs them too: counted once, here).</returns>
    public (Tensor Indices, Tensor Weights, Tensor? AuxLoss, long[] Counts) Route(Tensor x, long seqLen)
    {
        using var scope = NewDisposeScope();
        var logits = nn.functional.linear(x.to_type(ScalarType.Float32), weight);   // (N, E)
        var scores = sigmoidScores ? logits.sigmoid() : logits.softmax(-1);
        Tensor indices;
        using (no_grad())
        {
            var choice = useBias ? scores.add(e_score_correction_bias, Scalars.One) : scores;
            indices = choice.topk(topK, -1).indexes;                                  // (N, k)
        }
        var w = scores.gather(1, indices);
        if (normTopk) w = w / w.sum(-1, keepdim: true).add(Scalars.Of(1e-20), Scalars.One);
        w = w * Scalars.Of(scale);

        long[] counts;
        using (no_grad()) counts = indices.flatten().bincount(null, minlength: experts).cpu().data<long>().ToArray();
        if (is_grad_enabled()) // count training traffic only: evaluation must not steer the bias
            for (int i = 0; i < experts; i++) routed[i] += counts[i];

        Tensor? aux = null;
        if (alpha > 0 && is_grad_enabled())
        {
            long n = x.shape[0], b = n / seqLen;
            // f_i: fraction of the sequence's routed slots on expert i, scaled so uniform = 1.
            var hits = zeros_like(scores).scatter_(1, indices, ones_like(w)).view(b, seqLen, experts);
            var f = hits.mean([1]) * Scalars.Of((double)experts / topK);                          // (B, E)
            var p = (scores / scores.sum(-1, keepdim: true).add(Scalars.Of(1e-20), Scalars.One)).view(b, seqLen, experts).mean([1]); // (B, E)
            aux = (f * p).sum(-1).mean() * Scalars.Of(alpha);
        }
        return (indices.MoveToOuterDisposeScope(), w.MoveToOuterDisposeScope(), aux?.MoveToOuterDisposeScope(), counts);
    }

    /// <summary>The fused decode path's routing (Block.Fused.cs), the same decision as <see cref="Route"/> without
    /// libtorch: for m rows of x (fp32, natural order), the k chosen experts of row r in chosen[r·k..] (best first) and
    /// their gate weights. Ties in the selection score go to the lower index. Counts nothing (no gradient, no load).</summary>
    internal unsafe void RouteFused(float* x, int m, int d, int[] chosen, float[] gates)
    {
        float* w = Kernels.TensorPointer.Of<float>(weight), bias = Kernels.TensorPointer.Of<float>(e_score_correction_bias);
        Span<float> scores = stackalloc float[experts], choice = stackalloc float[experts];
        for (int r = 0; r < m; r++)
        {
            float* xr = x + (long)r * d;
            for (int e = 0; e < experts; e++) scores[e] = Kernels.DecodeMath.Dot(xr, w + (long)e * d, d);
            if (sigmoidScores) for (int e = 0; e < experts; e++) scores[e] = 1f / (1f + MathF.Exp(-scores[e]));
            else
            {
                float max = float.NegativeInfinity, sum = 0;
                foreach (var v in scores) max = MathF.Max(max, v);
                for (int e = 0; e < experts; e++) { scores[e] = MathF.Exp(scores[e] - max); sum += scores[e]; }
                for (int e = 0; e < experts; e++) scores[e] /= sum;
            }
            for (int e = 0; e < experts; e++) choice[e] = useBias ? scores[e] + bias[e] : scores[e];
            float total = 0;
            for (int j = 0; j < topK; j++)
            {
                int best = -1;
                for (int e = 0; e < experts; e++)
                    if (!float.IsNegativeInfinity(choice[e]) && (best < 0 || choice[e] > choice[best])) best = e;
                if (best < 0) best = j; // every score NaN: any experts; the NaN reaches the output and fails the request
                chosen[r * topK + j] = best;
                gates[r * topK + j] = scores[best];
                total += scores[best];
                choice[best] = float.NegativeInfinity;
            }
            for (int j = 0; j < topK; j++)
            {
                float g = gates[r * topK + j];
                if (normTopk) g /= total + 1e-20f;
                gates[r * topK + j] = g * (float)scale;
            }
        }
        GC.KeepAlive(weight); GC.KeepAlive(e_score_correction_bias);
    }

    /// <summary>Tokens routed to each expert since the last <see cref="UpdateBias"/> or <see cref="ResetLoad"/>.</summary>
    public long[] Load => (long[])routed.Clone();

    public void ResetLoad() => Array.Clear(routed);

    /// <summary>Auxiliary-loss-free balancing step: b_i += γ·sign(mean − load_i); then resets the counts.</summary>
    public void UpdateBias(double gamma)
    {
        if (!useBias || gamma == 0) { ResetLoad(); return; }
        double mean = routed.Average();
        var delta = routed.Select(l => (float)(gamma * Math.Sign(mean - l))).ToArray();
        using (no_grad())
        using (var d = tensor(delta).to(e_score_correction_bias.device))
            e_score_correction_bias.add_(d);
        ResetLoad();
    }

    /// <summary>Current selection bias per expert (copy).</summary>
    public float[] Bias => e_score_correction_bias.cpu().data<float>().ToArray();
}
