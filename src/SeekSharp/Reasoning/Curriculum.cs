using System.Text.RegularExpressions;
using SeekSharp.Data.Synthetic;

namespace SeekSharp.Reasoning;

// `seek chat rl --curriculum`: prompts chosen by their recent pass rate. A GRPO group whose G completions all
// score the same (all right or all wrong) has zero advantage and teaches nothing; its rollouts are the run's most
// expensive waste. Prompts are generated and rarely repeat, so the pass rate is kept per bucket: the task and each
// parameter with its digit runs replaced by their lengths (arithmetic "x" of a 3-digit and a 2-digit number is one
// bucket, whatever the numbers). Each step draws Candidates × P prompts from the stream; a candidate whose bucket
// has been seen over at least two groups and whose chance of a zero-variance group, p^G + (1 − p)^G, is at least
// SkipAbove (0.75: at G = 8 a bucket is skipped after four groups in a row all right, or all wrong) is skipped before any rollout (its G rollouts are counted as saved); P prompts are sampled from the
// rest with weight p(1 − p) + 0.02 (the group's reward variance: most to learn from), unseen buckets at p = 1/2.
// When fewer than P remain, the skipped with the lowest chance fill the step (not counted as saved), so every step
// rolls out P·G completions as without the curriculum. The estimate p is Laplace-smoothed over exponentially
// decayed counts (each new group of a bucket weighs 1, the past is multiplied by Decay = 0.9, about the last ten groups), so it
// follows the policy as it learns.

public sealed class Curriculum(int groupSize, int seed)
{
    public const int Candidates = 4;
    public const double SkipAbove = 0.75;
    public const double Decay = 0.9;
    readonly Dictionary<string, (double Correct, double Total)> stats = [];

    /// <summary>Candidate groups skipped so far; each saved <c>groupSize</c> rollouts.</summary>
    public long SkippedGroups { get; private set; }
    public long RolloutsSaved => SkippedGroups * groupSize;

    public static string Bucket(SyntheticProblem p) =>
        p.Task + "|" + string.Join(";", p.Parameters.Where(kv => kv.Value.Length <= 32 && kv.Key is not ("template" or "swapped"))
            .OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => kv.Key + "=" + Regex.Replace(kv.Value, "[0-9]+", m => m.Length.ToString())));

    /// <summary>The bucket's smoothed recent pass rate, and the (decayed) number of completions behind it.</summary>
    public (double PassRate, double Seen) Estimate(SyntheticProblem p) =>
        stats.TryGetValue(Bucket(p), out var s) ? ((s.Correct + 1) / (s.Total + 2), s.Total) : (0.5, 0);

    /// <summary>Chance that a group of G completions at pass rate p all score alike.</summary>
    public double ZeroVarianceChance(double p) => Math.Pow(p, groupSize) + Math.Pow(1 - p, groupSize);

    bool Skip(SyntheticProblem p)
    {
        var (rate, seen) = Estimate(p);
        return seen >= 2 * groupSize * Decay && ZeroVarianceChance(rate) >= SkipAbove;
    }

    /// <summary>The <paramref name="count"/> prompts of step <paramref name="step"/> among <paramref name="candidates"/>, in stream order;
    /// adds the skipped ones to <see cref="SkippedGroups"/> and returns how many were skipped this step.</summary>
    public (List<SyntheticProblem> Chosen, int Skipped) Choose(IReadOnlyList<SyntheticProblem> candidates, int count, int step)
    {
        var rng = new Random(HashCode.Combine(seed, step, 0x5EED));
        var open = new List<int>();
        var skipped = new List<int>();
        for (int i = 0; i < candidates.Count; i++) (Skip(candidates[i]) ? skipped : open).Add(i);
        // Efraimidis–Spirakis: key log(u)/w, largest keys win; a sample without replacement proportional to w.
        var chosen = open.Select(i => (i, Key: Math.Log(1 - rng.NextDouble()) / Weight(candidates[i])))
            .OrderByDescending(x => x.Key).Take(count).Select(x => x.i).ToList();
        var fill = skipped.OrderBy(i => ZeroVarianceChance(Estimate(candidates[i]).PassRate)).ThenBy(i => i).Take(count - chosen.Count).ToList();
        chosen.AddRange(fill);
        int skippedNow = skipped.Count - fill.Count;
        SkippedGroups += skippedNow;
        return ([.. chosen.Order().Select(i => candidates[i])], skippedNow);
    }

    double Weight(SyntheticProblem p)
    {
        var r = Estimate(p).PassRate;
        return r * (1 - r) + 0.02;
    }

    /// <summary>Takes in a step's results: <paramref name="accuracy"/> holds G scores (1 = correct) per problem, in order.</summary>
    public void Observe(IReadOnlyList<SyntheticProblem> problems, IReadOnlyList<double> accuracy)
    {
        if (accuracy.Count != problems.Count * groupSize)
            throw new ArgumentException($"expected {problems.Count * groupSize} accuracy scores, got {accuracy.Count}.", nameof(accuracy));
        for (int g = 0; g < problems.Count; g++)
        {
            var key = Bucket(problems[g]);
            double correct = 0;
            for (int j = 0; j < groupSize; j++) correct += accuracy[g * groupSize + j] >= 0.5 ? 1 : 0;
            var (c, t) = stats.GetValueOrDefault(key);
            stats[key] = (c * Decay + correct, t * Decay + groupSize);
        }
    }
}
