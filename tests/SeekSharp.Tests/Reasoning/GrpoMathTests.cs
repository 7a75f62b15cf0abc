using SeekSharp.Reasoning;
using static TorchSharp.torch;

namespace SeekSharp.Tests.Reasoning;

public class GrpoMathTests
{
    [Fact]
    public void Advantages_are_group_relative_and_zero_variance_groups_are_flagged()
    {
        double[] rewards = [1, 0, 0, 1, /* */ 0.2, 0.2, 0.2, 0.2, /* */ 1.2, 0.2, 0, 0];
        var grpo = GroupAdvantages.Compute(rewards, 4, scaleByStd: true);
        // Group 1: mean 0.5, sample std sqrt(4 · 0.25 / 3) = 0.57735.
        double a = 0.5 / (Math.Sqrt(1.0 / 3) + 1e-4);
        Assert.Equal([a, -a, -a, a], grpo.Advantages[..4], new RoundedComparer());
        // Group 2: every reward equal.
        Assert.Equal([false, true, false], grpo.ZeroVariance);
        Assert.All(grpo.Advantages[4..8], x => Assert.Equal(0, x));
        Assert.Equal(2, grpo.InformativeGroups);
        // Group 3: mean 0.35, sample std = sqrt((0.85² + 0.15² + 2 · 0.35²) / 3) = 0.55603.
        double std = Math.Sqrt((0.85 * 0.85 + 0.15 * 0.15 + 2 * 0.35 * 0.35) / 3);
        Assert.Equal(0.85 / (std + 1e-4), grpo.Advantages[8], 9);
        Assert.Equal(-0.35 / (std + 1e-4), grpo.Advantages[11], 9);

        // Dr. GRPO: the same centring, no division.
        var dr = GroupAdvantages.Compute(rewards, 4, scaleByStd: false);
        Assert.Equal([0.5, -0.5, -0.5, 0.5, 0, 0, 0, 0, 0.85, -0.15, -0.35, -0.35], dr.Advantages, new RoundedComparer());
        Assert.Throws<ArgumentException>(() => GroupAdvantages.Compute([1, 2, 3], 2, true));
    }

    sealed class RoundedComparer : IEqualityComparer<double>
    {
        public bool Equals(double x, double y) => Math.Abs(x - y) < 1e-9;
        public int GetHashCode(double obj) => 0;
    }

    // Two sequences, three positions; the last position of the first is padding. eps = 0.2, eps_high = 0.28
    // (clip-higher), beta = 0.1. Per token (ratio = e^(logp - old), KL = e^(ref-logp) - (ref-logp) - 1):
    //   (0,0) A=+1: ratio e^0.5 = 1.6487 > 1.28, clipped: -1.28 + 0.1 · 0.018731 = -1.278127
    //   (0,1) A=+1: ratio 1:                               -1    + 0.1 · 0.005171 = -0.999483
    //   (1,0) A=-2: ratio 1:                                2    + 0.1 · 0.018731 =  2.001873
    //   (1,1) A=-2: ratio e^-1 = 0.3679 < 0.8, clipped:     1.6  + 0.1 · 0.021403 =  1.602140
    //   (1,2) A=-2: ratio 1, ref = logp:                    2    + 0                =  2
    // grpo:    ((-1.278127 - 0.999483) / 2 + (2.001873 + 1.602140 + 2) / 3) / 2 = 0.364600
    // dr_grpo: (sum of all five) / (2 sequences · 4 max tokens)                    = 0.415800
    static (Tensor Logp, Tensor Old, Tensor Ref, Tensor Adv, Tensor Mask) Case() => (
        tensor(new float[] { -1.0f, -0.5f, -2.0f, -0.3f, -1.2f, -0.7f }, [2, 3]).requires_grad_(),
        tensor(new float[] { -1.5f, -0.5f, -1.0f, -0.3f, -0.2f, -0.7f }, [2, 3]),
        tensor(new float[] { -1.2f, -0.4f, -1.0f, -0.5f, -1.0f, -0.7f }, [2, 3]),
        tensor(new float[] { 1f, -2f }),
        tensor(new float[] { 1, 1, 0, 1, 1, 1 }, [2, 3]));

    static readonly GrpoConfig Cfg = new() { Epsilon = 0.2, EpsilonHigh = 0.28, Beta = 0.1, MaxTokens = 4 };

    [Fact]
    public void Grpo_loss_equals_the_hand_computed_value()
    {
        var (logp, old, re, adv, mask) = Case();
        var parts = GrpoLoss.Compute(logp, old, re, adv, mask, Cfg, stepSequences: 2);
        Assert.Equal(0.364600, parts.Loss.item<float>(), 5);
        Assert.Equal(5, parts.Tokens);
        Assert.Equal(2, parts.ClippedTokens);
        Assert.Equal(0.0640352, parts.KlSum, 5);

        // Gradients: a clipped token keeps only the KL term's, 0.1 · (1 - e^(ref - logp)), scaled by 1/(2 tokens · 2 sequences);
        // an unclipped one also the policy gradient -A · ratio.
        parts.Loss.backward();
        var g = logp.grad!.data<float>().ToArray();
        Assert.Equal(0.25 * 0.1 * (1 - Math.Exp(-0.2)), g[0], 5);
        Assert.Equal(0.25 * (-1 + 0.1 * (1 - Math.Exp(0.1))), g[1], 5);
        Assert.Equal(0, g[2]);                                   // padding
    }

    [Fact]
    public void Dr_grpo_divides_by_a_constant_and_beta_zero_drops_the_kl()
    {
        var (logp, old, re, adv, mask) = Case();
        Assert.Equal(0.415800, GrpoLoss.Compute(logp, old, re, adv, mask, Cfg with { Loss = LossAggregation.DrGrpo }, 2).Loss.item<float>(), 5);

        // beta = 0 needs no reference: (-1.28 - 1) / 2 and (2 + 1.6 + 2) / 3, averaged.
        var noKl = GrpoLoss.Compute(logp, old, null, adv, mask, Cfg with { Beta = 0 }, 2);
        Assert.Equal(((-1.28 - 1) / 2 + (2 + 1.6 + 2) / 3) / 2, noKl.Loss.item<float>(), 5);
        Assert.Equal(0, noKl.KlSum);

        // Without clip-higher the first token is clipped at 1.2 instead of 1.28.
        var symmetric = GrpoLoss.Compute(logp, old, null, adv, mask, Cfg with { Beta = 0, EpsilonHigh = null }, 2);
        Assert.Equal(((-1.2 - 1) / 2 + (2 + 1.6 + 2) / 3) / 2, symmetric.Loss.item<float>(), 5);
    }

    [Fact]
    public void First_pass_ratio_is_one_and_the_gradient_is_the_policy_gradient()
    {
        // mu = 1: old log-probs are the current ones detached; the loss is -mean(A) per token, its gradient -A / (tokens · sequences).
        var (logp, _, _, adv, mask) = Case();
        var parts = GrpoLoss.Compute(logp, logp.detach(), null, adv, mask, Cfg with { Beta = 0 }, 2);
        Assert.Equal((-1.0 + 2.0) / 2, parts.Loss.item<float>(), 6);
        Assert.Equal(0, parts.ClippedTokens);
        parts.Loss.backward();
        var g = logp.grad!.data<float>().ToArray();
        Assert.Equal(-1.0 / 4, g[0], 6);
        Assert.Equal(2.0 / 6, g[5], 6);
    }

    [Theory]
    [InlineData(5, 2, 1, 0.4)]
    [InlineData(5, 2, 2, 0.7)]          // 1 - C(3,2)/C(5,2) = 1 - 3/10
    [InlineData(8, 0, 4, 0.0)]
    [InlineData(8, 5, 4, 1.0)]          // fewer than k wrong samples: some k-subset is always all-correct
    [InlineData(10, 3, 5, 1 - 21.0 / 252)] // 1 - C(7,5)/C(10,5)
    public void Pass_at_k_is_the_unbiased_estimator(int n, int c, int k, double expected) =>
        Assert.Equal(expected, Evaluation.PassAtK(n, c, k), 12);
}
