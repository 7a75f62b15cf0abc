using System.Text.Json.Nodes;
using SeekSharp.Checkpoints;
using SeekSharp.Modeling;
using SeekSharp.Tests.Modeling;
using SeekSharp.Tests.Tokenization;
using static TorchSharp.torch;

namespace SeekSharp.Tests.Checkpoints;

/// <summary>Issue 15, item 6: MHA models are saved as the transformers architecture that is exact for them
/// (dense: LlamaForCausalLM; MHA + MoE with the sigmoid router: Glm4MoeForCausalLM), and such folders, ours or
/// with a config.json as transformers writes it, load back as the identical model.</summary>
public class HuggingFaceMhaTests : TempDirTest
{
    static JsonObject ReadJson(string path) => JsonNode.Parse(File.ReadAllText(path))!.AsObject();

    static ModelConfig Config(bool moe) => TestModels.Mha(moe) with { VocabSize = TokenizerFixture.VocabSize, Preset = null };

    /// <summary>A saved model of <paramref name="cfg"/> (non-zero correction bias, so routing depends on it) and its folder.</summary>
    string SaveModel(ModelConfig cfg, out Transformer model)
    {
        model = new Transformer(cfg with { InitializerRange = 0.1 }, seed: 5);
        using (no_grad())
            foreach (var (_, t) in model.state_dict().Where(kv => kv.Key.EndsWith("e_score_correction_bias")))
                t.copy_(linspace(-0.3, 0.3, t.shape[0]));
        var dir = NewDir();
        TokenizerFixture.Tokenizer.Save(dir);
        ModelFiles.Save(dir, model);
        return dir;
    }

    static void AssertSameLogits(Transformer a, Transformer b)
    {
        using var _ = no_grad();
        using var ids = tensor(new long[] { 1, 5, 9, 2, 33, 7, 7, 40, 3, 12 }).unsqueeze(0);
        using var la = a.Forward(ids).Logits;
        using var lb = b.Forward(ids).Logits;
        Assert.Equal(0f, (la - lb).abs().max().item<float>()); // the same model: bit for bit
    }

    [Theory]
    [InlineData(false, "llama", "LlamaForCausalLM")]
    [InlineData(true, "glm4_moe", "Glm4MoeForCausalLM")]
    public void MhaModelsAreSavedAsLlamaOrGlm4MoeAndLoadBackIdentical(bool moe, string modelType, string architecture)
    {
        var cfg = Config(moe);
        var dir = SaveModel(cfg, out var model);
        using var _ = model;
        var json = ReadJson(Path.Combine(dir, "config.json"));
        Assert.Equal(modelType, (string)json["model_type"]!);
        Assert.Equal(architecture, (string)json["architectures"]![0]!);
        Assert.Equal(cfg.QkRopeHeadDim, (int)json["head_dim"]!);
        Assert.Equal(cfg.RmsNormEps, (double)json["rms_norm_eps"]!);
        Assert.True((bool)json["tie_word_embeddings"]!);
        Assert.False((bool)json["attention_bias"]!);
        // No DeepSeek-only key that transformers' Llama / Glm4Moe would carry along without meaning.
        foreach (var key in new[] { "attention_type", "q_lora_rank", "kv_lora_rank", "qk_nope_head_dim", "scoring_func", "moe_layer_freq" })
            Assert.False(json.ContainsKey(key), key);
        if (moe)
        {
            Assert.Equal(1.0, (double)json["partial_rotary_factor"]!);
            Assert.False((bool)json["use_qk_norm"]!);
            Assert.Equal(cfg.NRoutedExperts, (int)json["n_routed_experts"]!);
            Assert.Equal(cfg.NSharedExperts, (int)json["n_shared_experts"]!);
            Assert.Equal(cfg.FirstKDenseReplace, (int)json["first_k_dense_replace"]!);
            Assert.Equal(cfg.RoutedScalingFactor, (double)json["routed_scaling_factor"]!);
            Assert.True((bool)json["norm_topk_prob"]!);
        }
        else Assert.False((bool)json["mlp_bias"]!);
        // transformers' tensor names for these architectures are ours: the correction bias is mlp.gate.e_score_correction_bias.
        var names = Safetensors.ReadHeader(Path.Combine(dir, "model.safetensors")).Entries.Select(e => e.Name).ToHashSet();
        Assert.Contains("model.layers.0.self_attn.q_proj.weight", names);
        Assert.Contains("model.layers.0.post_attention_layernorm.weight", names);
        if (moe) Assert.Contains("model.layers.1.mlp.gate.e_score_correction_bias", names);

        using var back = ModelFiles.Load(dir);
        Assert.Equal(model.Config.ToJson(), back.Config.ToJson());
        AssertSameLogits(model, back);
    }

    // config.json as transformers' LlamaConfig / Glm4MoeConfig.save_pretrained writes it (their keys, their extras).
    static string TransformersConfig(bool moe, ModelConfig c) => moe
        ? $$"""
          {"architectures": ["Glm4MoeForCausalLM"], "attention_bias": false, "attention_dropout": 0.0, "bos_token_id": 0, "eos_token_id": 1,
           "first_k_dense_replace": {{c.FirstKDenseReplace}}, "head_dim": {{c.QkRopeHeadDim}}, "hidden_act": "silu", "hidden_size": {{c.HiddenSize}},
           "initializer_range": 0.02, "intermediate_size": {{c.IntermediateSize}}, "max_position_embeddings": {{c.MaxPositionEmbeddings}},
           "model_type": "glm4_moe", "moe_intermediate_size": {{c.MoeIntermediateSize}}, "n_group": 1, "n_routed_experts": {{c.NRoutedExperts}},
           "n_shared_experts": {{c.NSharedExperts}}, "norm_topk_prob": true, "num_attention_heads": {{c.NumAttentionHeads}},
           "num_experts_per_tok": {{c.NumExpertsPerTok}}, "num_hidden_layers": {{c.NumHiddenLayers}}, "num_key_value_heads": {{c.NumKeyValueHeads}},
           "num_nextn_predict_layers": 0, "pad_token_id": 2, "partial_rotary_factor": 1.0, "rms_norm_eps": 1e-06, "rope_scaling": null,
           "rope_theta": 10000.0, "routed_scaling_factor": 1.0, "tie_word_embeddings": true, "topk_group": 1, "torch_dtype": "float32",
           "transformers_version": "4.56.0", "use_cache": true, "use_qk_norm": false, "vocab_size": {{c.VocabSize}}}
          """
        : $$"""
          {"architectures": ["LlamaForCausalLM"], "attention_bias": false, "attention_dropout": 0.0, "bos_token_id": 0, "eos_token_id": 1,
           "head_dim": {{c.QkRopeHeadDim}}, "hidden_act": "silu", "hidden_size": {{c.HiddenSize}}, "initializer_range": 0.02,
           "intermediate_size": {{c.IntermediateSize}}, "max_position_embeddings": {{c.MaxPositionEmbeddings}}, "mlp_bias": false,
           "model_type": "llama", "num_attention_heads": {{c.NumAttentionHeads}}, "num_hidden_layers": {{c.NumHiddenLayers}},
           "num_key_value_heads": {{c.NumKeyValueHeads}}, "pretraining_tp": 1, "rms_norm_eps": 1e-06, "rope_scaling": null,
           "rope_theta": 10000.0, "tie_word_embeddings": true, "torch_dtype": "float32", "transformers_version": "4.56.0",
           "use_cache": true, "vocab_size": {{c.VocabSize}}}
          """;

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void AConfigAsTransformersWritesItLoadsAsTheSameModel(bool moe)
    {
        var cfg = Config(moe);
        var dir = SaveModel(cfg, out var model);
        using var _ = model;
        File.WriteAllText(Path.Combine(dir, "config.json"), TransformersConfig(moe, cfg));
        using var back = ModelFiles.Load(dir);
        Assert.False(back.Config.IsMla);
        Assert.Equal(cfg.QkRopeHeadDim, back.Config.QkRopeHeadDim);
        AssertSameLogits(model, back);
    }

    /// <summary>What transformers' Llama / Glm4Moe would compute differently from us, refused by field.</summary>
    [Theory]
    [InlineData(true, "partial_rotary_factor", null)]      // missing: transformers' default 0.5 rotates half the head
    [InlineData(true, "partial_rotary_factor", "0.5")]
    [InlineData(true, "use_qk_norm", "true")]
    [InlineData(false, "mlp_bias", "true")]
    [InlineData(false, "num_key_value_heads", "2")]        // grouped-query attention
    [InlineData(false, "rope_scaling", """{"rope_type": "llama3", "factor": 8.0}""")]
    public void WhatTransformersComputesDifferentlyIsRefusedByField(bool moe, string field, string? value)
    {
        var cfg = Config(moe) with { NumAttentionHeads = 4, NumKeyValueHeads = 4, QkRopeHeadDim = 8, VHeadDim = 8 };
        var dir = NewDir();
        var json = JsonNode.Parse(TransformersConfig(moe, cfg))!.AsObject();
        if (value is null) json.Remove(field); else json[field] = JsonNode.Parse(value);
        var path = Path.Combine(dir, "config.json");
        File.WriteAllText(path, json.ToJsonString());
        var e = Assert.Throws<SeekSharpException>(() => ModelConfig.Load(path));
        Assert.Contains($"'{field}'", e.Message);
        Assert.Contains(path, e.Message);
    }
}
