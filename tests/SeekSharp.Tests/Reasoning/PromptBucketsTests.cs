using SeekSharp.Data.Synthetic;
using SeekSharp.Reasoning;

namespace SeekSharp.Tests.Reasoning;

public class PromptBucketsTests
{
    [Fact]
    public void Batches_share_a_length_and_every_problem_drawn_is_handed_out_in_order()
    {
        var drawn = new List<SyntheticProblem>();
        IEnumerable<SyntheticProblem> Stream()
        {
            foreach (var p in TaskSource.Training("arithmetic", seed: 9)) { drawn.Add(p); yield return p; }
        }
        using var source = Stream().GetEnumerator();
        var buckets = new PromptBuckets(source, p => p.Prompt.Length, size: 4);
        var out_ = new List<SyntheticProblem>();
        for (int i = 0; i < 30; i++)
        {
            var batch = buckets.Next();
            Assert.Equal(4, batch.Count);
            Assert.Single(batch.Select(p => p.Prompt.Length).Distinct());
            out_.AddRange(batch);
        }
        Assert.Equal(out_.Count, out_.Distinct().Count());
        // Problems of one length come out in the order they were drawn, and nothing is lost: the ones not yet
        // handed out are the pool, which stays below the bound.
        foreach (var len in out_.Select(p => p.Prompt.Length).Distinct())
            Assert.Equal(drawn.Where(p => p.Prompt.Length == len).Take(out_.Count(p => p.Prompt.Length == len)), out_.Where(p => p.Prompt.Length == len));
        Assert.InRange(drawn.Count - out_.Count, 0, 16 * 4);
    }
}
