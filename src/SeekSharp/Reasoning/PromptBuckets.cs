using SeekSharp.Data.Synthetic;

namespace SeekSharp.Reasoning;

// GroupGenerator decodes only prompts of equal token length together, and a decoding step costs nearly
// the same for 8 rows as for 64 (measured: docs/decisions/0009), so a GRPO step whose prompts fall into
// four lengths pays for four decoding loops instead of one. This queue hands out each step's prompts
// from one length: problems are drawn from the stream into per-length buckets until one holds a full
// step. Nothing is dropped or reordered within a length, so every problem drawn is trained on in the
// order drawn, only possibly some steps later; the share of each length over a run is unchanged. If the
// pool grows past a bound without a full bucket (tasks with many prompt lengths), the fullest bucket goes.

/// <summary>Groups a problem stream into same-length batches.</summary>
public sealed class PromptBuckets(IEnumerator<SyntheticProblem> source, Func<SyntheticProblem, int> length, int size, int maxPool = 0)
{
    readonly Dictionary<int, Queue<SyntheticProblem>> buckets = [];
    readonly int bound = maxPool > 0 ? maxPool : 16 * size;
    int pooled;

    /// <summary>Up to <c>size</c> problems of one prompt length (exactly size unless the pool bound was hit).</summary>
    public List<SyntheticProblem> Next()
    {
        while (true)
        {
            var full = buckets.Values.FirstOrDefault(q => q.Count >= size);
            if (full is null && pooled >= bound) full = buckets.Values.MaxBy(q => q.Count);
            if (full is not null) return Take(full, Math.Min(size, full.Count));
            if (!source.MoveNext()) throw new SeekSharpException("the prompt source ran out of problems.");
            var p = source.Current;
            int len = length(p);
            if (!buckets.TryGetValue(len, out var q)) buckets[len] = q = new Queue<SyntheticProblem>();
            q.Enqueue(p);
            pooled++;
        }
    }

    List<SyntheticProblem> Take(Queue<SyntheticProblem> q, int n)
    {
        var list = new List<SyntheticProblem>(n);
        for (int i = 0; i < n; i++) list.Add(q.Dequeue());
        pooled -= n;
        return list;
    }
}
