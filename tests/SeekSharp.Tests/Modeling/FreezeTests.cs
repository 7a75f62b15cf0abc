using SeekSharp.Modeling;
using static TorchSharp.torch;

namespace SeekSharp.Tests.Modeling;

/// <summary>Transformer.Freeze keeps cast weights for inference (and runs small MoE batches through all experts at once).</summary>
public class FreezeTests
{
    static Tensor Ids(int b, int t, int seed)
    {
        var rng = new Random(seed);
        return tensor(Enumerable.Range(0, b * t).Select(_ => (long)rng.Next(64)).ToArray()).view(b, t);
    }

    [Theory]
    [InlineData("mla", true, 4)]    // 8 tokens: MoE takes the all-experts path
    [InlineData("mla", true, 40)]   // 80 tokens: more than MoE.DenseMaxRows, the per-expert path
    [InlineData("mha", true, 4)]
    [InlineData("mha", false, 4)]   // untied output head
    public void AFrozenModelComputesWhatTheUnfrozenOneDoes(string kind, bool tied, int t)
    {
        var cfg = (kind == "mla" ? TestModels.Mla() : TestModels.Mha(moe: true)) with { TieWordEmbeddings = tied };
        using var model = new Transformer(cfg, seed: 4);
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var ids = Ids(2, t, 1);
        var plain = model.Forward(ids).Logits;
        model.Freeze();
        Assert.True(model.Frozen);
        var frozen = model.Forward(ids).Logits;
        Assert.True(frozen.allclose(plain, rtol: 1e-4, atol: 1e-5), $"max diff {(frozen - plain).abs().max().item<float>()}");

        model.SetComputeType(ScalarType.BFloat16);                // unfreezes: cast copies would be stale
        Assert.False(model.Frozen);
        var bf = model.Forward(ids).Logits;
        model.Freeze();
        var bfFrozen = model.Forward(ids).Logits;
        Assert.True((bfFrozen.softmax(-1) - bf.softmax(-1)).abs().max().item<float>() < 0.02);
    }

    [Fact]
    public void FreezingFoldsLoraAdaptersIn()
    {
        using var model = new Transformer(TestModels.Mla(), seed: 4);
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        foreach (var l in model.modules().OfType<Linear>())
        {
            l.Adapter = new LoraAdapter(l.InFeatures, l.OutFeatures, rank: 2, alpha: 4);
            l.Adapter.lora_B.copy_(randn(l.OutFeatures, 2) * 0.05);
        }
        var ids = Ids(2, 5, 3);
        var plain = model.Forward(ids).Logits;
        var frozen = model.Freeze().Forward(ids).Logits;
        Assert.True(frozen.allclose(plain, rtol: 1e-4, atol: 1e-5));
    }

    [Fact]
    public void UnfreezingSeesWeightsChangedSince()
    {
        using var model = new Transformer(TestModels.Mha(moe: true), seed: 4);
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var ids = Ids(1, 6, 2);
        model.SetComputeType(ScalarType.BFloat16).Freeze();
        var before = model.Forward(ids).Logits;
        foreach (var m in model.modules()) if (m is Linear l) l.weight.mul_(1.5);
        Assert.True(model.Forward(ids).Logits.allclose(before, rtol: 0, atol: 0)); // frozen: the copies, by contract
        model.Unfreeze();
        Assert.False(model.Forward(ids).Logits.allclose(before));
    }

    [Theory]
    [InlineData("mla", 4)]    // MoE on the all-experts path
    [InlineData("mla", 40)]   // more than MoE.DenseMaxRows: the per-expert path, on the stacked copies
    [InlineData("mha", 4)]
    public void ReleasingTheMastersChangesNoLogitAndFreesTheirBytes(string kind, int t)
    {
        var cfg = (kind == "mla" ? TestModels.Mla() : TestModels.Mha(moe: true)) with { TieWordEmbeddings = false };
        using var model = new Transformer(cfg, seed: 4);
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var ids = Ids(2, t, 1);
        model.SetComputeType(ScalarType.BFloat16).Freeze();
        var before = model.Forward(ids).Logits;
        var linears = model.modules().OfType<Linear>().ToArray();
        long masters = linears.Sum(l => l.weight.numel()) * 4;

        long released = model.ReleaseMasters();

        Assert.Equal(masters, released);                          // every projection's fp32 master, experts' included
        Assert.All(linears, l => Assert.Equal(0, l.weight.numel()));
        Assert.True(model.Forward(ids).Logits.allclose(before, rtol: 0, atol: 0)); // the frozen copies were all it read
        Assert.Throws<InvalidOperationException>(() => model.Unfreeze());
        Assert.Throws<InvalidOperationException>(() => model.SetComputeType(ScalarType.Float32));
    }

    [Fact]
    public void AnFp32FrozenModelKeepsTheMastersItReads()
    {
        using var model = new Transformer(TestModels.Mla(), seed: 4);
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var ids = Ids(1, 6, 2);
        model.Freeze();                                           // fp32: a frozen weight may be the master itself
        var before = model.Forward(ids).Logits;
        model.ReleaseMasters();
        Assert.True(model.Forward(ids).Logits.allclose(before, rtol: 0, atol: 0));
    }

    [Fact]
    public void AFrozenMlpHoldsGateAndUpOnceInItsFusedCopy()
    {
        using var model = new Transformer(TestModels.Mha(moe: false), seed: 4);
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var ids = Ids(1, 6, 2);
        model.SetComputeType(ScalarType.BFloat16);
        var before = model.Forward(ids).Logits;
        model.Freeze();
        var mlps = model.modules().OfType<Mlp>().ToArray();
        Assert.NotEmpty(mlps);
        foreach (var m in mlps)
        {
            var gate = m.GateProj.FusedWeight!;
            var up = m.UpProj.FusedWeight!;
            // up's rows follow gate's in one buffer (the fused gate/up copy): a copy of its own would start at offset 0
            Assert.Equal(0, gate.storage_offset());
            Assert.Equal(gate.numel(), up.storage_offset());
        }
        Assert.True((model.Forward(ids).Logits.softmax(-1) - before.softmax(-1)).abs().max().item<float>() < 0.02);
    }
}
