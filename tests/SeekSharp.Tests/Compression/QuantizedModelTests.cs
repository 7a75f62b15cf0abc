using SeekSharp.Checkpoints;
using SeekSharp.Compression;
using SeekSharp.Inference;
using SeekSharp.Modeling;
using static TorchSharp.torch;

namespace SeekSharp.Tests.Compression;

public class QuantizedModelTests : TempDirTest
{
    static Tensor Ids() => tensor(new long[] { 1, 5, 9, 200, 33, 7, 64, 12, 400, 3 }, [1, 10]);

    [Theory]
    [InlineData("q8_0")]
    [InlineData("q4_0")]
    [InlineData("fp8")]
    public void LoadsAsQuantizedStorageAndComputesTheDequantizedModel(string typeName)
    {
        var type = QuantizationConfig.ParseType(typeName);
        var parent = QuantizedModels.Save(NewDir());
        var qdir = Path.Combine(NewDir(), "q");
        var r = Quantizer.Run(parent, type, qdir);
        Assert.True(r.BytesAfter < r.BytesBefore);

        using var model = ModelFiles.Load(qdir);
        Assert.True(model.IsQuantized);
        var linears = model.modules().OfType<Linear>().ToList();
        // Every projection is quantized (all in features are multiples of 32) and holds no fp32 master.
        Assert.All(linears, l => { Assert.NotNull(l.Quantized); Assert.Equal(0, l.weight.numel()); Assert.Equal(type, l.Quantized!.Type); });

        using var reference = QuantizedModels.Dequantized(parent, model);
        using var _ = no_grad();
        using var ids = Ids();
        var (want, _) = reference.Forward(ids);
        var (got, _) = model.Forward(ids);
        Assert.True((want - got).abs().max().item<float>() < Tolerance(type, want), $"unfrozen: {(want - got).abs().max().item<float>()} of {want.abs().max().item<float>()}");
        // Frozen: fused q8_0/q4_0 rows in the MLP and all-experts matmuls, kv_b_proj dequantized; the cached decode.
        model.Freeze();
        reference.Freeze();
        var (frozen, _) = model.Forward(ids);
        Assert.True((want - frozen).abs().max().item<float>() < Tolerance(type, want), $"frozen: {(want - frozen).abs().max().item<float>()} of {want.abs().max().item<float>()}");
        var mlaKvB = model.named_modules().Single(m => m.name.EndsWith("0.self_attn.kv_b_proj")).module as Linear;
        Assert.NotNull(mlaKvB!.Quantized);

        int[] prompt = [1, 5, 9, 200];
        var greedy = new SamplingOptions(Temperature: 0);
        Assert.Equal(new TokenGenerator(reference).Generate(prompt, 8, greedy, 0).ToList(), new TokenGenerator(model).Generate(prompt, 8, greedy, 0).ToList());
    }

    /// <summary>A DeepSeek-style folder: rope_interleave true (rows reordered at load, fp8 rows within their scale
    /// block) and a projection left in BF16 beside the F8_E4M3 ones.</summary>
    [Theory]
    [InlineData("fp8")]
    [InlineData("q8_0")]
    public void InterleavedRotaryAndMixedPrecisionFoldersLoad(string typeName)
    {
        var parent = QuantizedModels.Save(NewDir());
        var qdir = Path.Combine(NewDir(), "q");
        Quantizer.Run(parent, QuantizationConfig.ParseType(typeName), qdir);
        foreach (var dir in new[] { parent, qdir })
        {
            var path = Path.Combine(dir, ModelFiles.ConfigFile);
            var obj = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(path))!.AsObject();
            obj["rope_interleave"] = true;
            File.WriteAllText(path, obj.ToJsonString());
        }
        const string kept = "model.layers.1.self_attn.o_proj.weight";
        var weights = Path.Combine(qdir, ModelFiles.WeightsFile);
        var fp8 = Safetensors.ReadHeader(weights).Entries.Where(e => e.DType == "F8_E4M3").ToDictionary(e => e.Name, e => e.DType);
        var tensors = Safetensors.Load(weights);
        using (var parentModel = ModelFiles.Load(parent))
            tensors[kept] = Safetensors.Load(Path.Combine(parent, ModelFiles.WeightsFile))[kept].to_type(ScalarType.BFloat16);
        tensors.Remove(kept + "_scale_inv");
        fp8.Remove(kept);
        Safetensors.Save(weights, tensors, null, fp8);

        using var model = ModelFiles.Load(qdir);
        var oProj = (Linear)model.named_modules().Single(m => m.name == "model.layers.1.self_attn.o_proj").module;
        Assert.Null(oProj.Quantized);
        // The rotary rows of q_b_proj and kv_a_proj_with_mqa were reordered in the stored bytes as in the fp32 parent.
        using (var parentModel = ModelFiles.Load(parent))
        {
            var parentLinears = parentModel.named_modules().Where(m => m.module is Linear).ToDictionary(m => m.name, m => (Linear)m.module);
            foreach (var (name, module) in model.named_modules())
            {
                if (module is not Linear { Quantized: { } q } || !(name.EndsWith("q_b_proj") || name.EndsWith("kv_a_proj_with_mqa"))) continue;
                using var w = q.Dequantize(ScalarType.Float32);
                var err = (w - parentLinears[name].weight).abs().max().item<float>();
                Assert.True(err < 0.01f, $"{name}: {err}");
            }
        }
        using var reference = QuantizedModels.Dequantized(parent, model);
        using (no_grad()) reference.named_modules().Where(m => m.name == "model.layers.1.self_attn.o_proj").Select(m => (Linear)m.module).Single()
            .weight.copy_(oProj.weight);                                  // the bf16-rounded copy both hold
        using var _ = no_grad();
        using var ids = Ids();
        var (want, _) = reference.Forward(ids);
        var (got, _) = model.Forward(ids);
        Assert.True((want - got).abs().max().item<float>() < Tolerance(QuantizationConfig.ParseType(typeName), want), $"{(want - got).abs().max().item<float>()} of {want.abs().max().item<float>()}");
    }

    [Fact]
    public void FolderIsWrittenAsTheSharedLayout()
    {
        var parent = QuantizedModels.Save(NewDir());
        var q8 = Path.Combine(NewDir(), "q8");
        Quantizer.Run(parent, QuantType.Q8_0, q8);
        var f8 = Path.Combine(NewDir(), "f8");
        Quantizer.Run(parent, QuantType.Fp8, f8);
        var cfg = QuantizedModels.Config;

        var h8 = Safetensors.ReadHeader(Path.Combine(q8, ModelFiles.WeightsFile)).Entries.ToDictionary(e => e.Name);
        var down = h8["model.layers.1.mlp.experts.0.down_proj.weight"];
        Assert.Equal("U8", down.DType);
        Assert.Equal([(long)cfg.HiddenSize, cfg.MoeIntermediateSize / 32 * 34], down.Shape);
        Assert.Equal("F32", h8["model.embed_tokens.weight"].DType);
        Assert.Equal("F32", h8["model.layers.1.mlp.gate.weight"].DType);
        Assert.Contains("\"quant_method\": \"seeksharp\"", File.ReadAllText(Path.Combine(q8, ModelFiles.ConfigFile)));
        // The block bytes are BlockQuant's encoding of the parent weight, byte for byte.
        using (var parentModel = ModelFiles.Load(parent))
        using (var expect = BlockQuant.Encode(parentModel.state_dict()["model.layers.1.mlp.experts.0.down_proj.weight"], BlockType.Q8_0))
        using (var stored = Safetensors.Load(Path.Combine(q8, ModelFiles.WeightsFile))["model.layers.1.mlp.experts.0.down_proj.weight"])
            Assert.True(expect.eq(stored).all().item<bool>());

        var hf = Safetensors.ReadHeader(Path.Combine(f8, ModelFiles.WeightsFile)).Entries.ToDictionary(e => e.Name);
        var kvA = hf["model.layers.0.self_attn.kv_a_proj_with_mqa.weight"];
        Assert.Equal("F8_E4M3", kvA.DType);
        Assert.Equal([(long)cfg.KvLoraRank + cfg.QkRopeHeadDim, cfg.HiddenSize], kvA.Shape);
        var scale = hf["model.layers.0.self_attn.kv_a_proj_with_mqa.weight_scale_inv"];
        Assert.Equal("F32", scale.DType);
        Assert.Equal([1L, 1], scale.Shape);                                // partial 128x128 blocks, as DeepSeek-V3's
        var json = File.ReadAllText(Path.Combine(f8, ModelFiles.ConfigFile));
        Assert.Contains("\"quant_method\": \"fp8\"", json);
        Assert.Contains("\"fmt\": \"e4m3\"", json);
        Assert.Contains("\"weight_block_size\": [", json);
    }

    [Fact]
    public void TheRuleKeepsEmbeddingsNormsRouterAndNarrowWeights()
    {
        Assert.NotNull(QuantizationRule.WhyKept("model.embed_tokens.weight", [64, 64], QuantType.Q8_0));
        Assert.NotNull(QuantizationRule.WhyKept("lm_head.weight", [64, 64], QuantType.Fp8));
        Assert.NotNull(QuantizationRule.WhyKept("model.layers.0.input_layernorm.weight", [64], QuantType.Q8_0));
        Assert.NotNull(QuantizationRule.WhyKept("model.layers.1.mlp.gate.weight", [8, 64], QuantType.Q8_0));
        Assert.NotNull(QuantizationRule.WhyKept("model.layers.1.mlp.gate.e_score_correction_bias", [8], QuantType.Fp8));
        Assert.NotNull(QuantizationRule.WhyKept("model.layers.0.self_attn.o_proj.weight", [64, 48], QuantType.Q4_0));
        Assert.Null(QuantizationRule.WhyKept("model.layers.0.self_attn.o_proj.weight", [64, 48], QuantType.Fp8));
        Assert.Null(QuantizationRule.WhyKept("model.layers.1.mlp.experts.3.up_proj.weight", [32, 64], QuantType.Q4_0));
        Assert.Null(QuantizationRule.WhyKept("model.layers.1.mlp.shared_experts.down_proj.weight", [64, 32], QuantType.Q8_0));
        Assert.Equal(TensorKind.RoutedExperts, QuantizationRule.KindOf("model.layers.1.mlp.experts.3.up_proj.weight"));
        Assert.Equal(TensorKind.DenseMlp, QuantizationRule.KindOf("model.layers.0.mlp.up_proj.weight"));
    }

    [Fact]
    public void QLoraTrainsAdaptersOnTheQuantizedBaseAndMergesByRequantizing()
    {
        var parent = QuantizedModels.Save(NewDir());
        var qdir = Path.Combine(NewDir(), "q");
        Quantizer.Run(parent, QuantType.Q4_0, qdir);
        using var model = ModelFiles.Load(qdir);
        var attach = SeekSharp.Alignment.Lora.Attach(model, new SeekSharp.Alignment.LoraConfig { Rank = 4 }, seed: 1);
        var target = SeekSharp.Alignment.Lora.Targets(model).First(t => t.Name.EndsWith("o_proj")).Linear;
        var bytes = target.Quantized!.Data.clone();
        using (no_grad()) target.Adapter!.lora_B.fill_(0.01);
        using var ids = Ids();
        var (logits, _) = model.Forward(ids);
        logits.sum().backward();
        Assert.NotNull(target.Adapter!.lora_B.grad);                      // the adapter trains
        Assert.True(bytes.eq(target.Quantized.Data).all().item<bool>());      // the base stays as stored
        Assert.Equal(0, target.weight.numel());
        Assert.True(attach.Parameters.All(p => p.P.requires_grad));

        using (no_grad())
        {
            var (factored, _) = model.Forward(ids);
            SeekSharp.Alignment.Lora.Merge(model);
            Assert.Null(target.Adapter);
            Assert.NotNull(target.Quantized);                             // re-quantized in q4_0, not dequantized
            var (merged, _) = model.Forward(ids);
            Assert.True((factored - merged).abs().max().item<float>() < 0.05f);
        }
    }

    [Fact]
    public void TrainingAndResumeRefuseAQuantizedFolder()
    {
        var parent = QuantizedModels.Save(NewDir());
        var qdir = Path.Combine(NewDir(), "q");
        Quantizer.Run(parent, QuantType.Q8_0, qdir);
        using var model = ModelFiles.Load(qdir);
        var e = Assert.Throws<SeekSharpException>(() => model.RefuseQuantizedTraining("full fine-tuning", qdir));
        Assert.Contains("quantized", e.Message);
        using var fresh = new Transformer(QuantizedModels.Config);
        e = Assert.Throws<SeekSharpException>(() => ModelFiles.LoadWeights(fresh, qdir));
        Assert.Contains("(quantized)", e.Message);
        Assert.Contains("--resume", e.Message);
        e = Assert.Throws<SeekSharpException>(() => Quantizer.Run(qdir, QuantType.Q4_0, Path.Combine(NewDir(), "again")));
        Assert.Contains("already quantized", e.Message);
    }

    /// <summary>fp8 decodes its weight for a plain matmul: the dequantized model's numbers to rounding. q8_0/q4_0 run in
    /// QuantKernels, which round the activations to int8 per 32-block as llama.cpp does (each matmul's bound is held
    /// exactly in QuantKernelsTests): here 1 % of the largest logit, where a wrong block layout is off by its size.</summary>
    static float Tolerance(QuantType type, Tensor want) =>
        type == QuantType.Fp8 ? 1e-4f : 1e-2f * want.abs().max().item<float>() + 1e-4f;

}
