using SeekSharp.Inference;
using SeekSharp.Modeling;
using SeekSharp.Tests.Modeling;

namespace SeekSharp.Tests.Inference;

public class GroupGeneratorTests
{
    // Prompts of two lengths. An untrained model samples nearly uniformly from 64 tokens, so over 56 tokens more than half
    // the rows draw the stop token and end early: batches get compacted on the way.
    static readonly int[][] Prompts = [[1, 5, 9], [2, 6, 10], [4, 8, 12, 16, 20]];
    const int Samples = 4, MaxTokens = 56;

    static (GeneratedCompletion[][] Outputs, long Decoded) Generate(int maxRows, int stopId = 3)
    {
        using var model = new Transformer(TestModels.Mha(moe: true), seed: 7);
        model.eval();
        var generator = new GroupGenerator(model, maxRows);
        var outputs = generator.Generate(Prompts, Samples, MaxTokens, new SamplingOptions(1.0, 1.0), seed: 11, stopId);
        return (outputs, generator.DecodedTokens);
    }

    [Fact]
    public void Completions_do_not_depend_on_how_rows_are_batched()
    {
        var (together, _) = Generate(maxRows: 64);  // all three prompts (two lengths) in one batch of 12 rows
        var (apart, _) = Generate(maxRows: 4);      // one prompt per batch (the shared-position path)
        Assert.Equal(Prompts.Length, together.Length);
        for (int p = 0; p < Prompts.Length; p++)
            for (int s = 0; s < Samples; s++)
            {
                Assert.Equal(apart[p][s].Ids, together[p][s].Ids);
                Assert.Equal(apart[p][s].Finished, together[p][s].Finished);
            }
        // Rows of one prompt differ (each has its own seed), so the comparison above is not trivially true.
        Assert.Contains(together[0], c => !c.Ids.SequenceEqual(together[0][0].Ids));
    }

    [Fact]
    public void Stopped_rows_leave_the_batch()
    {
        var (outputs, decoded) = Generate(maxRows: 64);
        Assert.Contains(outputs.SelectMany(o => o), c => c.Finished);
        // Without compaction every row of the batch decodes until its longest completion ends.
        long full = 12 * outputs.SelectMany(o => o).Max(c => c.Ids.Length);
        Assert.True(decoded < full, $"decoded {decoded} rows, as many as without compaction ({full})");
    }

    [Fact]
    public void A_row_stops_at_its_own_context_limit()
    {
        // Context 64: the 5-token prompt may add 59 tokens, the 3-token ones 61; a budget of 100 is cut per row.
        using var model = new Transformer(TestModels.Mha(moe: true), seed: 7);
        model.eval();
        var outputs = new GroupGenerator(model, 64).Generate(Prompts, 2, 100, new SamplingOptions(1.0, 1.0), seed: 5, stopId: -1);
        Assert.All(outputs[0].Concat(outputs[1]), c => Assert.Equal(61, c.Ids.Length));
        Assert.All(outputs[2], c => Assert.Equal(59, c.Ids.Length));
        Assert.All(outputs.SelectMany(o => o), c => Assert.False(c.Finished));
    }
}
