using SeekSharp.Checkpoints;
using SeekSharp.Compression;
using SeekSharp.Kernels;
using SeekSharp.Tests.Compression;
using SeekSharp.Modeling;
using static TorchSharp.torch;

namespace SeekSharp.Tests.Modeling;

/// <summary>The fused decode path (Modeling/Block.Fused.cs): when it runs, that it computes the model's function, and
/// that a sequence's logits do not depend on the batch.</summary>
public class FusedDecodeTests : TempDirTest
{
    /// <summary>The smallest shapes the fused path takes (in-features multiples of 32), untied so logits vary.</summary>
    static ModelConfig Config(string kind, bool moe) => new ModelConfig
    {
        VocabSize = 128, MaxPositionEmbeddings = 64, NumHiddenLayers = 3, HiddenSize = 64,
        NumAttentionHeads = 2, NumKeyValueHeads = 2, AttentionType = "mla",
        QLoraRank = 32, KvLoraRank = 32, QkNopeHeadDim = 16, QkRopeHeadDim = 16, VHeadDim = 16,
        IntermediateSize = 96, FirstKDenseReplace = 1, TieWordEmbeddings = false,
        NRoutedExperts = moe ? 4 : 0, NSharedExperts = moe ? 1 : 0, NumExpertsPerTok = moe ? 2 : 0, MoeIntermediateSize = 32,
    } is var c && kind == "mha" ? c with { AttentionType = "mha", QLoraRank = 0, KvLoraRank = 0, QkNopeHeadDim = 0 } : c;

    static Transformer Model(string kind, bool moe, ScalarType type, bool fused = true)
    {
        // Weights of std 0.2 instead of the init's 0.02: logits then spread over several units, as a trained model's do.
        var model = new Transformer(Config(kind, moe), seed: 11);
        using (no_grad()) foreach (var p in model.parameters()) if (p.dim() == 2) p.mul_(10);
        model.FusedDecode = fused;
        model.SetComputeType(type).Freeze();
        return model;
    }

    /// <summary>Teacher-forced logits: a prefill of 8 tokens, then one token per step through a cache of the model's dtype.</summary>
    static float[][] Forced(Transformer model, int[] tokens)
    {
        using var _ = no_grad();
        var cfg = model.Config;
        using var cache = new KvCache(cfg, 1, cfg.MaxPositionEmbeddings, model.ComputeType);
        var rows = new List<float[]>();
        using (var s = NewDisposeScope())
            rows.Add(model.ForwardLast(tensor(tokens.Take(8).Select(t => (long)t).ToArray(), [1, 8]), 0, cache).data<float>().ToArray());
        for (int p = 8; p < tokens.Length; p++)
            using (var s = NewDisposeScope())
                rows.Add(model.ForwardLast(tensor(new long[] { tokens[p] }, [1, 1]), p, cache).data<float>().ToArray());
        return rows.ToArray();
    }

    static double MaxError(float[][] a, float[][] b) => a.Zip(b).Max(p => p.First.Zip(p.Second).Max(q => (double)Math.Abs(q.First - q.Second)));

    static int Argmax(float[] row) => Array.IndexOf(row, row.Max());

    [Fact]
    public void RunsForAFrozenBf16ModelOnlyWhereItApplies()
    {
        if (!Bf16Gemm.Available) return;
        using (var m = Model("mla", true, ScalarType.BFloat16)) Assert.True(m.DecodesFused);
        using (var m = Model("mha", false, ScalarType.BFloat16)) Assert.True(m.DecodesFused);
        using (var m = Model("mla", true, ScalarType.BFloat16, fused: false)) Assert.False(m.DecodesFused);
        using (var m = Model("mla", true, ScalarType.Float32)) Assert.False(m.DecodesFused);       // fp32: libtorch
        using (var m = new Transformer(TestModels.Mla(), seed: 1))                                  // rank 16: not a 32-multiple
        {
            m.SetComputeType(ScalarType.BFloat16).Freeze();
            Assert.False(m.DecodesFused);
        }
        using (var m = Model("mla", true, ScalarType.BFloat16))
        {
            m.Unfreeze();
            Assert.False(m.DecodesFused);
        }
    }

    [Theory]
    [InlineData("mla", true)]
    [InlineData("mla", false)]
    [InlineData("mha", true)]
    [InlineData("mha", false)]
    public void ComputesTheModelsFunctionToBf16Rounding(string kind, bool moe)
    {
        if (!Bf16Gemm.Available) return;
        var rng = new Random(7);
        var tokens = Enumerable.Range(0, 40).Select(_ => rng.Next(128)).ToArray();
        using var fp32 = Model(kind, moe, ScalarType.Float32);
        using var fused = Model(kind, moe, ScalarType.BFloat16);
        using var libtorch = Model(kind, moe, ScalarType.BFloat16, fused: false);
        Assert.True(fused.DecodesFused);
        var reference = Forced(fp32, tokens);
        var f = Forced(fused, tokens);
        var l = Forced(libtorch, tokens);
        double spread = reference.Max(r => r.Max() - r.Min());
        Assert.True(spread > 2, $"logits spread only {spread:F2}: the check would be weak");
        // The fused path keeps fp32 activations where libtorch's bf16 path rounds them: no further from fp32 than it.
        double fe = MaxError(f, reference), le = MaxError(l, reference);
        Assert.True(fe <= 2 * le + 1e-3, $"fused error {fe:F4} against libtorch bf16's {le:F4}");
        int agree = f.Zip(reference).Count(p => Argmax(p.First) == Argmax(p.Second));
        Assert.True(agree >= reference.Length - 2, $"greedy tokens agree at {agree} of {reference.Length} positions");
    }

    [Theory]
    [InlineData("mla")]
    [InlineData("mha")]
    public void ASequenceGetsTheSameLogitsAloneAndInABatch(string kind)
    {
        // Three sequences of different lengths decode together with per-row positions (the engine's step); each must get
        // bit for bit the logits it gets alone. The MoE groups rows by expert, so rows share expert matmuls here.
        if (!Bf16Gemm.Available) return;
        using var model = Model(kind, true, ScalarType.BFloat16);
        AloneAndInABatch(model);
    }

    static void AloneAndInABatch(Transformer model)
    {
        using var _ = no_grad();
        var cfg = model.Config;
        int vocab = cfg.VocabSize;
        var rng = new Random(3);
        var prompts = new[] { 5, 11, 8 }.Select(n => Enumerable.Range(0, n).Select(_ => (long)rng.Next(vocab)).ToArray()).ToArray();
        var next = new long[] { 7 % vocab, 99 % vocab, 42 % vocab };
        var alone = new float[3][];
        for (int i = 0; i < 3; i++)
        {
            using var cache = new KvCache(cfg, 1, cfg.MaxPositionEmbeddings, model.ComputeType);
            using var s = NewDisposeScope();
            model.ForwardLast(tensor(prompts[i], [1, prompts[i].Length]), 0, cache);
            using var rows = new RowPositions([prompts[i].Length], 1);
            alone[i] = model.ForwardLast(tensor(new[] { next[i] }, [1, 1]), new Positions(0, rows), cache).data<float>().ToArray();
        }
        using var slots = new KvCache(cfg, 3, cfg.MaxPositionEmbeddings, model.ComputeType);
        using (var s = NewDisposeScope())
        {
            for (int i = 0; i < 3; i++)
                using (var row = slots.Slice(i, 1)) model.ForwardLast(tensor(prompts[i], [1, prompts[i].Length]), 0, row);
            using var positions = new RowPositions(prompts.Select(p => p.Length).ToArray(), 1);
            var batch = model.ForwardLast(tensor(next, [3, 1]), new Positions(0, positions), slots);
            for (int i = 0; i < 3; i++) Assert.Equal(alone[i], batch[i].data<float>().ToArray());
        }
    }

    /// <summary>A q8_0/q4_0 folder of QuantizedModels' tiny MLA + MoE (every projection quantized), loaded in bf16 and frozen.</summary>
    Transformer Quantized(QuantType type, bool fused = true)
    {
        string parent = NewDir(), dir = NewDir();
        QuantizedModels.Save(parent, seed: 9);
        Quantizer.Run(parent, type, dir);
        var model = ModelFiles.Load(dir);
        model.FusedDecode = fused;
        model.SetComputeType(ScalarType.BFloat16).Freeze();
        return model;
    }

    [Theory]
    [InlineData(QuantType.Q8_0)]
    [InlineData(QuantType.Q4_0)]
    [InlineData(QuantType.Fp8)]
    public void QuantizedWeightsDecodeFusedAsTheyDoThroughLibtorch(QuantType type)
    {
        // q8_0/q4_0: both paths run QuantKernels on the stored blocks with int8 activations; the fused path quantizes fp32
        // activations where the libtorch one quantizes bf16-rounded ones, so they agree to activation rounding. fp8: the
        // fused path decodes the codes in registers (fp32 activations), libtorch's decodes the weight and runs bf16.
        if (!Bf16Gemm.Available) return;
        using var fused = Quantized(type);
        using var libtorch = Quantized(type, fused: false);
        Assert.True(fused.IsQuantized);
        Assert.True(fused.DecodesFused);
        Assert.False(libtorch.DecodesFused);
        var rng = new Random(2);
        var tokens = Enumerable.Range(0, 32).Select(_ => rng.Next(fused.Config.VocabSize)).ToArray();
        var f = Forced(fused, tokens);
        var l = Forced(libtorch, tokens);
        double scale = l.Max(r => r.Max(Math.Abs));
        Assert.True(MaxError(f, l) <= 0.02 * scale, $"max difference {MaxError(f, l):F4} against logits up to {scale:F3}");
    }

    [Theory]
    [InlineData(QuantType.Q4_0)]
    [InlineData(QuantType.Fp8)]
    public void AQuantizedSequenceGetsTheSameLogitsAloneAndInABatch(QuantType type)
    {
        if (!Bf16Gemm.Available) return;
        using var model = Quantized(type);
        Assert.True(model.DecodesFused);
        AloneAndInABatch(model);
    }

    [Fact]
    public void APositionPastTheContextIsRefused()
    {
        if (!Bf16Gemm.Available) return;
        using var model = Model("mla", true, ScalarType.BFloat16);
        using var _ = no_grad();
        using var cache = new KvCache(model.Config, 1, model.Config.MaxPositionEmbeddings, model.ComputeType);
        var e = Assert.Throws<SeekSharpException>(() => model.ForwardLast(tensor(new long[] { 1 }, [1, 1]), 64, cache));
        Assert.Contains("exceeds max_position_embeddings (64)", e.Message);
    }
}
