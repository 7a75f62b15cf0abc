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

    [Theory]
    [InlineData("mla")]
    [InlineData("mha")]
    public void RightPaddedRowsPrefillAsIfAlone(string kind)
    {
        using var model = Model(kind);
        var cfg = model.Config;
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        // Three prompts, of which the first 0, 4 and 2 tokens are already in their rows (as after a prefix-cache hit).
        long[][] prompts = [[3, 1, 4], [1, 5, 9, 2, 6, 5, 3], [5, 8, 9, 7, 9, 3]];
        int[] cached = [0, 4, 2];
        using var slots = new KvCache(cfg, 3, 16, ScalarType.Float32);
        for (int s = 0; s < 3; s++)
            if (cached[s] > 0)
            {
                using var row = slots.Slice(s, 1);
                model.ForwardLast(Ids(prompts[s][..cached[s]]), 0, row);
            }
        int width = prompts.Select((p, s) => p.Length - cached[s]).Max();
        var ids = zeros(3, width, ScalarType.Int64);
        for (int s = 0; s < 3; s++) ids[s].narrow(0, 0, prompts[s].Length - cached[s]).copy_(tensor(prompts[s][cached[s]..]));
        using var rows = new RowPositions(cached, width);
        var last = model.ForwardLast(ids, new Positions(0, rows), slots, prompts.Select((p, s) => p.Length - cached[s] - 1).ToArray());
        // And one decode step after it: the padding's keys beyond each row's length must not leak in.
        using var next = new RowPositions(prompts.Select(p => p.Length).ToArray(), 1);
        var step = model.ForwardLast(tensor(new long[] { 10, 11, 12 }).view(3, 1), new Positions(0, next), slots);
        for (int s = 0; s < 3; s++)
        {
            var full = model.Forward(Ids([.. prompts[s], 10 + s])).Logits[0];
            Assert.True(last[s].allclose(full[prompts[s].Length - 1], rtol: 1e-4, atol: 1e-5), $"prefill row {s}");
            Assert.True(step[s].allclose(full[prompts[s].Length], rtol: 1e-4, atol: 1e-5), $"decode row {s}");
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
