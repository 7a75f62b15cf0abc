namespace SeekSharp.Reasoning;

// GRPO's baseline is the group itself: each of a prompt's G completions is scored against the mean reward
// of the group, A_i = (r_i - mean) / (std + eps) (DeepSeekMath), or r_i - mean without the division
// (Dr. GRPO: dividing by the std up-weights prompts that are nearly always solved or nearly never, a
// difficulty bias). The std is the sample std (n - 1 in the denominator), as TRL computes it. A group
// whose rewards are all equal has every advantage 0: it carries no learning signal (only KL, which is
// not worth its forward and backward), so it is flagged and the trainer skips it and reports the count.

/// <summary>Group-relative advantages of rewards laid out group after group.</summary>
/// <param name="Advantages">One per completion.</param>
/// <param name="ZeroVariance">One per group: true when all its rewards are equal.</param>
public sealed record GroupAdvantages(double[] Advantages, bool[] ZeroVariance)
{
    /// <summary>Groups with some reward variance.</summary>
    public int InformativeGroups => ZeroVariance.Count(z => !z);

    /// <param name="rewards">G rewards of group 0, then G of group 1, ...</param>
    /// <param name="scaleByStd">True for GRPO, false for Dr. GRPO.</param>
    public static GroupAdvantages Compute(IReadOnlyList<double> rewards, int groupSize, bool scaleByStd, double eps = 1e-4)
    {
        if (groupSize < 2) throw new ArgumentOutOfRangeException(nameof(groupSize), groupSize, "a group needs at least 2 completions");
        if (rewards.Count % groupSize != 0)
            throw new ArgumentException($"{rewards.Count} rewards do not split into groups of {groupSize}", nameof(rewards));
        int groups = rewards.Count / groupSize;
        var adv = new double[rewards.Count];
        var zero = new bool[groups];
        for (int g = 0; g < groups; g++)
        {
            int at = g * groupSize;
            double mean = 0, min = double.PositiveInfinity, max = double.NegativeInfinity;
            for (int i = 0; i < groupSize; i++)
            {
                double r = rewards[at + i];
                if (!double.IsFinite(r)) throw new ArgumentException($"reward {at + i} is {r}", nameof(rewards));
                mean += r; min = Math.Min(min, r); max = Math.Max(max, r);
            }
            mean /= groupSize;
            zero[g] = max == min;
            if (zero[g]) continue; // advantages stay 0
            double ss = 0;
            for (int i = 0; i < groupSize; i++) ss += (rewards[at + i] - mean) * (rewards[at + i] - mean);
            double std = Math.Sqrt(ss / (groupSize - 1));
            for (int i = 0; i < groupSize; i++)
                adv[at + i] = scaleByStd ? (rewards[at + i] - mean) / (std + eps) : rewards[at + i] - mean;
        }
        return new GroupAdvantages(adv, zero);
    }
}
