using static TorchSharp.torch;
using SeekSharp.Native;

namespace SeekSharp.Reasoning;

// The GRPO objective per completion token t of sequence i (DeepSeekMath, eq. 3, with DAPO's clip-higher):
//   ratio = exp(logp - logp_old)
//   l_it  = -min(ratio·A_i, clip(ratio, 1 - eps, 1 + eps_high)·A_i) + beta·KL_it
//   KL_it = exp(ref - logp) - (ref - logp) - 1        (the k3 estimator: unbiased, always >= 0)
// Aggregation: grpo averages each sequence's tokens, then the sequences; dr_grpo sums every token and
// divides by sequences × max_tokens, a constant, so a long wrong answer is not penalized less per token
// than a short one (the length bias Dr. GRPO removes). A step may span several micro-batches, so both
// normalizers count the whole step's sequences, and each micro-batch returns its share of one objective.
// The clip fraction counts tokens whose gradient the clip removed (the clipped term was the minimum).

/// <summary>A micro-batch's share of the GRPO objective and its statistics (sums over its completion tokens).</summary>
/// <param name="Loss">Scalar with gradient.</param>
/// <param name="Tokens">Completion tokens in the micro-batch.</param>
/// <param name="ClippedTokens">Tokens where clipping removed the gradient.</param>
/// <param name="KlSum">Sum of the k3 KL estimate over tokens (0 when beta is 0 or there is no reference).</param>
public sealed record GrpoLossParts(Tensor Loss, double Tokens, double ClippedTokens, double KlSum);

public static class GrpoLoss
{
    /// <param name="logp">(B, T) log-probabilities of the sampled tokens under the policy, with gradient.</param>
    /// <param name="oldLogp">(B, T) the same under the policy that sampled them (no gradient).</param>
    /// <param name="refLogp">(B, T) the same under the frozen reference, or null when beta is 0.</param>
    /// <param name="advantages">(B) one advantage per sequence.</param>
    /// <param name="mask">(B, T) 1 on completion tokens, 0 elsewhere.</param>
    /// <param name="stepSequences">Sequences in the whole optimizer step (all micro-batches).</param>
    public static GrpoLossParts Compute(Tensor logp, Tensor oldLogp, Tensor? refLogp, Tensor advantages, Tensor mask,
        GrpoConfig cfg, int stepSequences)
    {
        if (cfg.Beta > 0 && refLogp is null) throw new ArgumentException("beta > 0 needs reference log-probabilities", nameof(refLogp));
        using var scope = NewDisposeScope();
        var a = advantages.unsqueeze(1);                                              // (B, 1)
        var ratio = (logp - oldLogp).exp();                                           // (B, T)
        var unclipped = ratio * a;
        var clipped = ratio.clamp(Scalars.Of(1 - cfg.Epsilon), Scalars.Of(1 + cfg.UpperClip)) * a;
        var perToken = -minimum(unclipped, clipped);
        Tensor? kl = null;
        if (cfg.Beta > 0)
        {
            var d = refLogp! - logp;
            kl = d.exp() - d - Scalars.One;
            perToken = perToken.add(kl, Scalars.Of(cfg.Beta));
        }
        perToken = perToken * mask;
        var loss = cfg.Loss switch
        {
            LossAggregation.Grpo => (perToken.sum(1) / mask.sum(1).clamp_min(Scalars.Of(1.0))).sum() / Scalars.Of(stepSequences),
            _ => perToken.sum() / Scalars.Of((double)stepSequences * cfg.MaxTokens),
        };
        double tokens = mask.sum().item<float>();
        double clippedTokens = ((clipped < unclipped).to_type(ScalarType.Float32) * mask).sum().item<float>();
        double klSum = kl is null ? 0 : (kl.detach() * mask).sum().item<float>();
        return new GrpoLossParts(loss.MoveToOuterDisposeScope(), tokens, clippedTokens, klSum);
    }
}
