using SeekSharp.Inference;
using SeekSharp.Modeling;
using SeekSharp.Tests.Modeling;

namespace SeekSharp.Tests.Inference;

public class GroupGeneratorTests
{
    // Prompts of two lengths; an untrained model rarely samples the stop token, so rows run to the budget, and a stop
    // token that is likely (id 3 boosted by nothing) still ends some rows early.
    static readonly int[][] Prompts = [[1, 5, 9], [2, 6, 10], [4, 8, 12, 16, 20]];

    static GeneratedCompletion[][] Generate(int maxRows, int stopId = 3)
    {
        using var model = new Transformer(TestModels.Mha(moe: true), seed: 7);
        model.eval();
        return new GroupGenerator(model, maxRows).Generate(Prompts, samples: 4, maxTokens: 12, new SamplingOptions(1.0, 1.0), seed: 11, stopId);
    }

    [Fact]
    public void Completions_do_not_depend_on_how_rows_are_batched()
    {
        var together = Generate(maxRows: 64);  // both 3-token prompts in one batch of 8 rows
        var apart = Generate(maxRows: 4);      // one prompt per batch
        Assert.Equal(Prompts.Length, together.Length);
        for (int p = 0; p < Prompts.Length; p++)
            for (int s = 0; s < 4; s++)
            {
                Assert.Equal(apart[p][s].Ids, together[p][s].Ids);
                Assert.Equal(apart[p][s].Finished, together[p][s].Finished);
            }
        // Rows of one prompt differ (each has its own seed), so the comparison above is not trivially true.
        Assert.Contains(together[0], c => !c.Ids.SequenceEqual(together[0][0].Ids));
    }
}
