using SeekSharp.Data.Synthetic;

namespace SeekSharp.Reasoning;

// Rewards are plain functions of (problem, completion) -> score, as in DeepSeek-R1: a format reward for
// the <think>/<answer> shape and an accuracy reward from the problem's deterministic verifier. A learned
// reward model can be weighed in beside them (the hybrid reward); it scores a whole batch at once, which
// is why the common shape is a batch scorer. The total is the weighted sum; each reward's mean is also
// logged on its own, so a run shows which one moved.

/// <summary>One sampled completion of a problem, as rewards see it.</summary>
/// <param name="Text">The assistant's text without the &lt;|eos|&gt; that ended it.</param>
/// <param name="Tokens">Completion length in tokens (the &lt;|eos|&gt; included when present).</param>
/// <param name="Finished">False when generation stopped at the token limit.</param>
public sealed record Rollout(SyntheticProblem Problem, string Text, int Tokens, bool Finished);

/// <summary>A reward function over a batch of rollouts.</summary>
public interface IReward
{
    /// <summary>Name in metrics ("reward/NAME").</summary>
    string Name { get; }

    /// <summary>One score per rollout, in order.</summary>
    double[] Score(IReadOnlyList<Rollout> rollouts);
}

/// <summary>The rule-based rewards as pure functions.</summary>
public static class Rewards
{
    /// <summary>1 when the completion has exactly the R1 shape (see <see cref="R1Completion"/>), else 0.</summary>
    public static double Format(string completion, bool finished = true) => R1Completion.Parse(completion, finished).WellFormed ? 1 : 0;

    /// <summary>1 when the completion is well-formed and its answer passes the problem's verifier, else 0.</summary>
    public static double Accuracy(SyntheticProblem problem, string completion, bool finished = true)
    {
        var parsed = R1Completion.Parse(completion, finished);
        return parsed.WellFormed && Verifiers.Check(problem, parsed.Answer) ? 1 : 0;
    }
}

/// <summary>1 for a well-formed R1 completion.</summary>
public sealed class FormatReward : IReward
{
    public string Name => "format";
    public double[] Score(IReadOnlyList<Rollout> rollouts) => rollouts.Select(r => Rewards.Format(r.Text, r.Finished)).ToArray();
}

/// <summary>1 for a well-formed completion whose answer the problem's verifier accepts.</summary>
public sealed class AccuracyReward : IReward
{
    public const string RewardName = "accuracy";
    public string Name => RewardName;
    public double[] Score(IReadOnlyList<Rollout> rollouts) => rollouts.Select(r => Rewards.Accuracy(r.Problem, r.Text, r.Finished)).ToArray();
}

/// <summary>Per-reward scores and their weighted total.</summary>
public sealed record RewardScores(double[] Total, IReadOnlyDictionary<string, double[]> ByName);

/// <summary>A weighted sum of rewards.</summary>
public sealed class RewardSet
{
    readonly IReadOnlyList<(IReward Reward, double Weight)> parts;

    public RewardSet(IReadOnlyList<(IReward Reward, double Weight)> parts)
    {
        if (parts.Count == 0) throw new SeekSharpException("rewards: at least one reward function is needed.");
        foreach (var (r, w) in parts)
            if (!double.IsFinite(w)) throw new SeekSharpException($"rewards: weight of '{r.Name}' must be a finite number, got {w}.");
        if (parts.Select(p => p.Reward.Name).Distinct().Count() != parts.Count) throw new SeekSharpException("rewards: reward names must be distinct.");
        this.parts = parts;
    }

    /// <summary>The R1 rule-based rewards: accuracy (weight 1) plus format (weight <paramref name="formatWeight"/>).</summary>
    public static RewardSet RuleBased(double formatWeight) => new([(new AccuracyReward(), 1.0), (new FormatReward(), formatWeight)]);

    /// <summary>This set plus one more reward.</summary>
    public RewardSet With(IReward reward, double weight) => new([.. parts, (reward, weight)]);

    public IEnumerable<string> Names => parts.Select(p => p.Reward.Name);

    public RewardScores Score(IReadOnlyList<Rollout> rollouts)
    {
        var total = new double[rollouts.Count];
        var byName = new Dictionary<string, double[]>();
        foreach (var (reward, weight) in parts)
        {
            var s = reward.Score(rollouts);
            if (s.Length != rollouts.Count) throw new InvalidOperationException($"reward '{reward.Name}' returned {s.Length} scores for {rollouts.Count} rollouts");
            byName[reward.Name] = s;
            for (int i = 0; i < s.Length; i++) total[i] += weight * s[i];
        }
        return new RewardScores(total, byName);
    }
}
