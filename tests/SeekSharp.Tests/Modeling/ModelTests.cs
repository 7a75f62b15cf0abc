using SeekSharp.Inference;
using SeekSharp.Modeling;
using static TorchSharp.torch;

namespace SeekSharp.Tests.Modeling;

public class ModelTests
{
    static Tensor Ids(int b, int t, int vocab, int seed)
    {
        var rng = new Random(seed);
        return tensor(Enumerable.Range(0, b * t).Select(_ => (long)rng.Next(vocab)).ToArray(), ScalarType.Int64).view(b, t);
    }

    [Theory]
    [InlineData("mla", true)]
    [InlineData("mha", false)]
    [InlineData("mha", true)]
    public void ForwardShapesAndBackward(string kind, bool moe)
    {
        manual_seed(1);
        using var model = new Transformer(kind == "mla" ? TestModels.Mla(moe) : TestModels.Mha(moe));
        using var scope = NewDisposeScope();
        var (logits, aux) = model.Forward(Ids(2, 10, 64, 1));
        Assert.Equal([2L, 10, 64], logits.shape);
        Assert.Equal(ScalarType.Float32, logits.dtype);
        Assert.Equal(moe, aux is not null);
        var loss = logits.mean() + (aux ?? zeros(1)).sum();
        loss.backward();
        foreach (var (name, p) in model.named_parameters())
            Assert.True(p.grad is not null, $"no gradient reached {name}");
    }

    [Fact]
    public void TheSameSeedGivesTheSameWeights()
    {
        using var a = new Transformer(TestModels.Mla(), seed: 11);
        using var b = new Transformer(TestModels.Mla(), seed: 11);
        using var c = new Transformer(TestModels.Mla(), seed: 12);
        var pa = a.parameters().ToList();
        Assert.All(pa.Zip(b.parameters()), p => Assert.True(p.First.eq(p.Second).all().item<bool>()));
        Assert.False(pa[0].eq(c.parameters().First()).all().item<bool>());
    }

    [Fact]
    public void ParameterNamesFollowHuggingFaceDeepSeekV3()
    {
        using var model = new Transformer(TestModels.Mla());
        var names = model.state_dict().Keys.ToHashSet();
        string[] expected =
        [
            "model.embed_tokens.weight", "model.norm.weight",
            "model.layers.0.input_layernorm.weight", "model.layers.0.post_attention_layernorm.weight",
            "model.layers.0.self_attn.q_a_proj.weight", "model.layers.0.self_attn.q_a_layernorm.weight",
            "model.layers.0.self_attn.q_b_proj.weight", "model.layers.0.self_attn.kv_a_proj_with_mqa.weight",
            "model.layers.0.self_attn.kv_a_layernorm.weight", "model.layers.0.self_attn.kv_b_proj.weight",
            "model.layers.0.self_attn.o_proj.weight",
            "model.layers.0.mlp.gate_proj.weight", "model.layers.0.mlp.up_proj.weight", "model.layers.0.mlp.down_proj.weight",
            "model.layers.1.mlp.gate.weight", "model.layers.1.mlp.gate.e_score_correction_bias",
            "model.layers.1.mlp.experts.3.gate_proj.weight", "model.layers.1.mlp.experts.0.down_proj.weight",
            "model.layers.1.mlp.shared_experts.up_proj.weight",
        ];
        foreach (var e in expected) Assert.Contains(e, names);
        Assert.DoesNotContain("lm_head.weight", names); // tied
    }

    [Fact]
    public void ReportedParameterCountMatchesTheModel()
    {
        foreach (var cfg in new[] { TestModels.Mla(), TestModels.Mha(), TestModels.Mha(true), Presets.Get("small"), Presets.Get("tiny") })
        {
            using var model = new Transformer(cfg);
            long actual = model.parameters().Sum(p => p.numel());
            Assert.Equal(actual, ModelCost.Of(cfg).TotalParams);
        }
    }

    [Fact]
    public void MtpModulesAreCountedApartFromTheMainModelAndInPretrainingFlops()
    {
        foreach (var main in new[] { TestModels.Mla(moe: false), TestModels.Mla(), TestModels.Mha() })
        {
            var cfg = main with { NumNextnPredictLayers = 2 };
            using var model = new Transformer(cfg);
            var mtpNames = Enumerable.Range(cfg.NumHiddenLayers, 2).Select(l => $"model.layers.{l}.").ToArray();
            var inMtp = model.named_parameters().Where(p => mtpNames.Any(p.name.StartsWith)).ToList();
            var cost = ModelCost.Of(cfg);
            var plain = ModelCost.Of(main);
            Assert.Equal(inMtp.Sum(p => p.parameter.numel()), cost.MtpParams);
            Assert.Equal(plain.TotalParams, cost.TotalParams);            // 671B-style counts exclude the modules
            Assert.Equal(plain.TrainingFlopsPerToken, cost.TrainingFlopsPerToken);
            Assert.Equal(0, plain.MtpTrainingFlopsPerToken);
            if (cfg.NRoutedExperts > 0) { Assert.True(cost.MtpTrainingFlopsPerToken > 0); continue; }
            // Dense: every matrix of a module is a matmul a token goes through, plus the shared head once more.
            long matmul = inMtp.Where(p => p.parameter.dim() == 2).Sum(p => p.parameter.numel()) + 2L * cfg.VocabSize * cfg.HiddenSize;
            double attention = 2 * 2.0 * cfg.MaxPositionEmbeddings * (cfg.QkHeadDim + cfg.VHeadDim) * cfg.NumAttentionHeads;
            Assert.Equal(3 * (2.0 * matmul + attention), cost.MtpTrainingFlopsPerToken, 6);
            Assert.Equal(cost.TrainingFlopsPerToken + cost.MtpTrainingFlopsPerToken, cost.PretrainingFlopsPerToken);
        }
    }

    [Fact]
    public void SmallMoeHasTheSameActiveFlopsAsSmallDense()
    {
        var dense = ModelCost.Of(Presets.Get("small-dense"));
        var moe = ModelCost.Of(Presets.Get("small"));
        // Only the router (16 × 384 per MoE layer) differs.
        Assert.InRange(moe.ForwardFlopsPerToken / dense.ForwardFlopsPerToken, 1.0, 1.01);
        Assert.True(moe.TotalParams > 2 * dense.TotalParams - dense.EmbeddingParams);
    }

    [Fact]
    public void MlaCachesFarFewerBytesPerTokenThanMha()
    {
        var mla = Presets.Get("small-mla");
        var mha = Presets.Get("small");
        Assert.Equal(6L * 2 * (128 + 32), ModelCost.Of(mla).KvCacheBytesPerToken);
        Assert.Equal(6L * 2 * 6 * (64 + 64), ModelCost.Of(mha).KvCacheBytesPerToken);
    }

    [Theory]
    [InlineData("mla")]
    [InlineData("mha")]
    public void CachedDecodingMatchesUncachedLogitsAndGreedyTokens(string kind)
    {
        manual_seed(7);
        var cfg = kind == "mla" ? TestModels.Mla() : TestModels.Mha(true);
        using var model = new Transformer(cfg);
        var gen = new TokenGenerator(model);
        int[] prompt = [1, 5, 9, 2, 33];
        var greedy = new SamplingOptions(Temperature: 0);
        var cached = gen.Generate(prompt, 30, greedy, seed: 0, useCache: true).ToArray();
        var plain = gen.Generate(prompt, 30, greedy, seed: 0, useCache: false).ToArray();
        Assert.Equal(30, cached.Length);
        Assert.Equal(plain, cached);

        // Logits agree step by step, not just the argmax.
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var all = prompt.Concat(cached).Select(t => (long)t).ToArray();
        var full = model.Forward(tensor(all).unsqueeze(0)).Logits;                 // (1, T, V)
        using var cache = new KvCache(cfg, 1, all.Length, ScalarType.Float32);
        var first = model.Forward(tensor(all[..4]).unsqueeze(0), 0, cache).Logits;   // prefill 4
        Assert.True(first.allclose(full.narrow(1, 0, 4), rtol: 1e-4, atol: 1e-4));
        var rest = model.Forward(tensor(all[4..10]).unsqueeze(0), 4, cache).Logits;  // a 6-token chunk after a prefix
        Assert.True(rest.allclose(full.narrow(1, 4, 6), rtol: 1e-4, atol: 1e-4));
    }

    [Fact]
    public void Bf16ComputeStaysCloseToFp32()
    {
        manual_seed(3);
        using var model = new Transformer(TestModels.Mla());
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var ids = Ids(1, 12, 64, 4);
        var f32 = model.Forward(ids).Logits.softmax(-1);
        model.SetComputeType(ScalarType.BFloat16);
        var bf = model.Forward(ids).Logits.softmax(-1);
        Assert.True((f32 - bf).abs().max().item<float>() < 0.02);
        Assert.Equal(ScalarType.Float32, model.parameters().First().dtype); // masters untouched
    }
}
