using SeekSharp.Modeling;
using static TorchSharp.torch;

namespace SeekSharp.Tests.Modeling;

/// <summary>Per-row positions over a slot cache (batched serving) against the shared-start path.</summary>
public class RowPositionTests
{
    static Transformer Model(string kind) => new(kind == "mla" ? TestModels.Mla() : TestModels.Mha(moe: true), seed: 5);

    static Tensor Ids(params long[] ids) => tensor(ids).unsqueeze(0);

    [Theory]
    [InlineData("mla")]
    [InlineData("mha")]
    public void RowsAtOneStartMatchTheSharedStart(string kind)
    {
        using var model = Model(kind);
        var cfg = model.Config;
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var prompt = tensor(new long[] { 3, 9, 14, 2, 7, 1, 30, 11 }).view(2, 4);
        var next = tensor(new long[] { 5, 6, 8, 4 }).view(2, 2);
        using var shared = new KvCache(cfg, 2, 16, ScalarType.Float32);
        using var perRow = new KvCache(cfg, 2, 16, ScalarType.Float32);
        model.Forward(prompt, 0, shared);
        model.Forward(prompt, 0, perRow);
        var expected = model.Forward(next, 4, shared).Logits;
        using var rows = new RowPositions([4, 4], 2);
        var actual = model.Forward(next, new Positions(0, rows), perRow).Logits;
        Assert.True(actual.allclose(expected, rtol: 1e-5, atol: 1e-5));
    }

    [Theory]
    [InlineData("mla")]
    [InlineData("mha")]
    public void EachRowDecodesAtItsOwnPositionAsIfAlone(string kind)
    {
        using var model = Model(kind);
        var cfg = model.Config;
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        long[][] prompts = [[1, 5, 9], [4, 8, 15, 16, 23, 42], [7]];
        // Alone: each sequence in its own cache, three decode steps of its own greedy tokens.
        var alone = new List<Tensor>[prompts.Length];
        var fed = new List<long>[prompts.Length];
        for (int s = 0; s < prompts.Length; s++)
        {
            using var cache = new KvCache(cfg, 1, 16, ScalarType.Float32);
            alone[s] = [];
            fed[s] = [];
            var last = model.ForwardLast(Ids(prompts[s]), 0, cache);
            int pos = prompts[s].Length;
            for (int step = 0; step < 3; step++)
            {
                long tok = last.argmax(-1).item<long>();
                fed[s].Add(tok);
                last = model.ForwardLast(Ids(tok), pos++, cache);
                alone[s].Add(last);
            }
        }
        // Together: prefill each into its own row, then decode all rows in one forward per step.
        using var slots = new KvCache(cfg, 3, 16, ScalarType.Float32);
        var lengths = prompts.Select(p => p.Length).ToArray();
        for (int s = 0; s < prompts.Length; s++)
        {
            using var row = slots.Slice(s, 1);
            model.ForwardLast(Ids(prompts[s]), 0, row);
        }
        for (int step = 0; step < 3; step++)
        {
            using var rows = new RowPositions(lengths, 1);
            var ids = tensor(fed.Select(f => f[step]).ToArray()).view(3, 1);
            var logits = model.ForwardLast(ids, new Positions(0, rows), slots);
            for (int s = 0; s < prompts.Length; s++)
                Assert.True(logits[s].allclose(alone[s][step][0], rtol: 1e-4, atol: 1e-5), $"row {s} step {step}");
            for (int s = 0; s < lengths.Length; s++) lengths[s]++;
        }
    }

    [Fact]
    public void CopyRowMovesASequenceToAnotherSlot()
    {
        using var model = Model("mha");
        var cfg = model.Config;
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        using var slots = new KvCache(cfg, 2, 16, ScalarType.Float32);
        using var reference = new KvCache(cfg, 1, 16, ScalarType.Float32);
        using (var row1 = slots.Slice(1, 1)) model.ForwardLast(Ids(2, 4, 6, 8), 0, row1);
        model.ForwardLast(Ids(2, 4, 6, 8), 0, reference);
        slots.CopyRow(1, 0, 4);
        using var row0 = slots.Slice(0, 1);
        var moved = model.ForwardLast(Ids(10), 4, row0);
        var expected = model.ForwardLast(Ids(10), 4, reference);
        Assert.True(moved.allclose(expected, rtol: 1e-5, atol: 1e-6));
    }
}
