namespace SeekSharp.Selection;

// Which documents to keep, from their scores: the top fraction (ties broken by document order, so a run is
// reproducible), or a sample without replacement with probability proportional to the score (Efraimidis &
// Spirakis: each document draws u^(1/w) and the largest keys win). Scores can be negative (excess loss), so
// weights are the scores shifted to start at zero, plus a floor of 1e-3 of their range that leaves every
// document a chance. Pure functions on arrays: tested on worked examples.

public static class SelectionChoice
{
    public static readonly string[] Scores = ["loss", "excess-loss", "entropy"];

    /// <summary>Documents kept of <paramref name="n"/> at fraction <paramref name="keepFraction"/>: ⌈F·n⌉, at least one.</summary>
    public static int KeepCount(int n, double keepFraction) => n == 0 ? 0 : Math.Clamp((int)Math.Ceiling(keepFraction * n - 1e-9), 1, n);

    /// <summary>Indices of the <paramref name="keep"/> highest scores, in ascending index order.</summary>
    public static int[] Top(IReadOnlyList<double> scores, int keep) =>
        [.. Enumerable.Range(0, scores.Count).OrderByDescending(i => scores[i]).ThenBy(i => i).Take(keep).Order()];

    /// <summary>Indices of <paramref name="keep"/> documents sampled without replacement proportionally to their shifted
    /// scores, in ascending index order; the same seed gives the same choice.</summary>
    public static int[] Sample(IReadOnlyList<double> scores, int keep, int seed)
    {
        if (scores.Count == 0) return [];
        double min = scores.Min(), range = scores.Max() - min;
        double floor = range > 0 ? 1e-3 * range : 1;
        var rng = new Random(seed);
        var keys = new double[scores.Count];
        for (int i = 0; i < keys.Length; i++)
        {
            double w = scores[i] - min + floor;
            double u = 1 - rng.NextDouble();   // (0, 1]
            keys[i] = Math.Log(u) / w;         // log(u^(1/w)): same order, no underflow
        }
        return [.. Enumerable.Range(0, keys.Length).OrderByDescending(i => keys[i]).ThenBy(i => i).Take(keep).Order()];
    }

    /// <summary>A document's score: mean loss, mean loss minus the reference's mean loss (RHO-LOSS), or mean entropy.</summary>
    public static double Of(string score, DocumentScores s, int doc)
    {
        int n = Math.Max(1, s.Targets[doc]);
        return score switch
        {
            "loss" => s.Loss[doc] / n,
            "excess-loss" => (s.Loss[doc] - s.ReferenceLoss![doc]) / n,
            "entropy" => s.Entropy![doc] / n,
            _ => throw new SeekSharpException($"--score: expected one of {string.Join(", ", Scores)}, got '{score}'."),
        };
    }
}
