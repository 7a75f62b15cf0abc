using SeekSharp.Alignment;

namespace SeekSharp.Reasoning;

// The learned half of the hybrid reward: a `seek chat rm` model scores each (prompt, completion). Its raw
// score is squashed by the logistic function into (0, 1), the same range as the rule-based rewards: for a
// model trained on verifier labels (bce) that is its probability of "correct"; for Bradley-Terry it is a
// monotone map of the preference log-odds. Unbounded scores would let the reward model's scale, not its
// weight, decide how much it counts.

/// <summary>A reward model as a reward function.</summary>
public sealed class RewardModelReward(RewardModel model, int batchSize = 16) : IReward
{
    public string Name => "rm";

    public double[] Score(IReadOnlyList<Rollout> rollouts) =>
        model.Score(rollouts.Select(r => r.Problem.Prompt).ToList(), rollouts.Select(r => r.Text).ToList(), batchSize)
            .Select(s => 1.0 / (1.0 + Math.Exp(-s))).ToArray();
}
