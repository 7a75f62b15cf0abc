using System.Text.Json.Nodes;
using SeekSharp.Checkpoints;
using SeekSharp.Modeling;
using static TorchSharp.torch;

namespace SeekSharp.Tests.Checkpoints;

/// <summary>A folder in the shape of Hugging Face's deepseek-ai/DeepSeek-V3 (its config.json's keys, its tensor names),
/// written by hand at test size, loads and runs; the fields transformers reads differently are refused by name.</summary>
public class HuggingFaceDeepSeekV3FolderTests : TempDirTest
{
    const int V = 64, D = 32, L = 2, H = 2, Nope = 8, Rope = 8, Vd = 8, KvRank = 16, QRank = 24, I = 64, E = 4, M = 16;

    // Every key of the public DeepSeek-V3 config.json, small sizes; n_group/topk_group 1 (group-limited routing is
    // not implemented), rope_scaling null (yarn is refused), rope_interleave false (the public file lacks it, which means
    // true: see InterleavedRotaryWeightsAreReorderedAtLoad).
    static JsonObject PublicShapedConfig() => JsonNode.Parse($$"""
        {
          "architectures": ["DeepseekV3ForCausalLM"],
          "attention_bias": false,
          "attention_dropout": 0.0,
          "auto_map": {
            "AutoConfig": "configuration_deepseek.DeepseekV3Config",
            "AutoModel": "modeling_deepseek.DeepseekV3Model",
            "AutoModelForCausalLM": "modeling_deepseek.DeepseekV3ForCausalLM"
          },
          "aux_loss_alpha": 0.001,
          "bos_token_id": 0,
          "eos_token_id": 1,
          "ep_size": 1,
          "first_k_dense_replace": 1,
          "hidden_act": "silu",
          "hidden_size": {{D}},
          "initializer_range": 0.02,
          "intermediate_size": {{I}},
          "kv_lora_rank": {{KvRank}},
          "max_position_embeddings": 128,
          "model_type": "deepseek_v3",
          "moe_intermediate_size": {{M}},
          "moe_layer_freq": 1,
          "n_group": 1,
          "n_routed_experts": {{E}},
          "n_shared_experts": 1,
          "norm_topk_prob": true,
          "num_attention_heads": {{H}},
          "num_experts_per_tok": 2,
          "num_hidden_layers": {{L}},
          "num_key_value_heads": {{H}},
          "num_nextn_predict_layers": 1,
          "pretraining_tp": 1,
          "q_lora_rank": {{QRank}},
          "qk_nope_head_dim": {{Nope}},
          "qk_rope_head_dim": {{Rope}},
          "rms_norm_eps": 1e-06,
          "rope_interleave": false,
          "rope_scaling": null,
          "rope_theta": 10000,
          "routed_scaling_factor": 2.5,
          "scoring_func": "sigmoid",
          "seq_aux": true,
          "tie_word_embeddings": false,
          "topk_group": 1,
          "topk_method": "noaux_tc",
          "torch_dtype": "bfloat16",
          "transformers_version": "4.33.1",
          "use_cache": true,
          "v_head_dim": {{Vd}},
          "vocab_size": {{V}}
        }
        """)!.AsObject();

    // Tensor names and shapes as transformers' DeepseekV3ForCausalLM has them, in bf16 as the release stores them.
    static Dictionary<string, Tensor> HfWeights(bool queryCompression)
    {
        var gen = new TorchSharp.torch.Generator(11);
        var w = new Dictionary<string, Tensor>();
        void T(string name, params long[] shape) => w[name] = (randn(shape, generator: gen) * 0.05).to_type(ScalarType.BFloat16);
        void One(string name, long n) => w[name] = ones(n).to_type(ScalarType.BFloat16);
        T("model.embed_tokens.weight", V, D); One("model.norm.weight", D); T("lm_head.weight", V, D);
        for (var l = 0; l < L; l++)
        {
            var p = $"model.layers.{l}.";
            One(p + "input_layernorm.weight", D); One(p + "post_attention_layernorm.weight", D);
            if (queryCompression)
            {
                T(p + "self_attn.q_a_proj.weight", QRank, D); One(p + "self_attn.q_a_layernorm.weight", QRank);
                T(p + "self_attn.q_b_proj.weight", H * (Nope + Rope), QRank);
            }
            else T(p + "self_attn.q_proj.weight", H * (Nope + Rope), D);
            T(p + "self_attn.kv_a_proj_with_mqa.weight", KvRank + Rope, D); One(p + "self_attn.kv_a_layernorm.weight", KvRank);
            T(p + "self_attn.kv_b_proj.weight", H * (Nope + Vd), KvRank); T(p + "self_attn.o_proj.weight", D, H * Vd);
            if (l == 0)
            {
                T(p + "mlp.gate_proj.weight", I, D); T(p + "mlp.up_proj.weight", I, D); T(p + "mlp.down_proj.weight", D, I);
                continue;
            }
            T(p + "mlp.gate.weight", E, D);
            w[p + "mlp.gate.e_score_correction_bias"] = (randn([E], generator: gen) * 0.01).to_type(ScalarType.Float32);
            for (var e = 0; e < E; e++)
            {
                T(p + $"mlp.experts.{e}.gate_proj.weight", M, D); T(p + $"mlp.experts.{e}.up_proj.weight", M, D); T(p + $"mlp.experts.{e}.down_proj.weight", D, M);
            }
            T(p + "mlp.shared_experts.gate_proj.weight", M, D); T(p + "mlp.shared_experts.up_proj.weight", M, D); T(p + "mlp.shared_experts.down_proj.weight", D, M);
        }
        return w;
    }

    string Folder(JsonObject config, bool queryCompression = true)
    {
        var dir = NewDir();
        File.WriteAllText(Path.Combine(dir, "config.json"), config.ToJsonString());
        var weights = HfWeights(queryCompression);
        Safetensors.Save(Path.Combine(dir, "model.safetensors"), weights, new Dictionary<string, string> { ["format"] = "pt" });
        foreach (var t in weights.Values) t.Dispose();
        return dir;
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void APublicShapedDeepSeekV3FolderLoadsAndRuns(bool queryCompression)
    {
        var config = PublicShapedConfig();
        if (!queryCompression) config["q_lora_rank"] = null;      // transformers' "no query compression"
        using var model = ModelFiles.Load(Folder(config, queryCompression));
        var cfg = model.Config;
        Assert.True(cfg.IsMla);                                      // no attention_type: transformers' DeepseekV3 is MLA
        Assert.Equal(queryCompression ? QRank : 0, cfg.QLoraRank);
        Assert.False(cfg.TieWordEmbeddings);
        Assert.Equal(2.5, cfg.RoutedScalingFactor);
        Assert.True(cfg.IsMoeLayer(1) && !cfg.IsMoeLayer(0));
        using var scope = NewDisposeScope();
        var (logits, _) = model.Forward(tensor(new long[] { 0, 5, 9, 2, 33, 1 }).view(1, 6));
        Assert.Equal([1L, 6, V], logits.shape);
        Assert.True(logits.isfinite().all().item<bool>());
        // What we write back is ours (attention_type explicit) and loads to the same model.
        var again = NewDir();
        ModelFiles.Save(again, model);
        using var back = ModelFiles.Load(again);
        Assert.Equal(cfg.ToJson(), back.Config.ToJson());
        Assert.Equal(0, (logits - back.Forward(tensor(new long[] { 0, 5, 9, 2, 33, 1 }).view(1, 6)).Logits).abs().max().item<float>());
    }

    [Fact]
    public void MissingFieldsTakeTransformersDefaultsNotOurs()
    {
        var config = PublicShapedConfig();
        config.Remove("tie_word_embeddings");                       // transformers: false (ours: true)
        config.Remove("routed_scaling_factor");                     // transformers: 2.5 (ours: 1)
        config.Remove("scoring_func"); config.Remove("topk_method"); config.Remove("moe_layer_freq");
        using var model = ModelFiles.Load(Folder(config));
        Assert.False(model.Config.TieWordEmbeddings);
        Assert.Equal(2.5, model.Config.RoutedScalingFactor);
        Assert.Equal("sigmoid", model.Config.ScoringFunc);
    }

    public static TheoryData<string, string?, string> Refused => new()
    {
        { "rope_scaling", """{"beta_fast": 32, "beta_slow": 1, "factor": 40, "mscale": 1.0, "mscale_all_dim": 1.0, "original_max_position_embeddings": 4096, "type": "yarn"}""", "rope_scaling: not supported" },
        { "rope_parameters", """{"rope_type": "yarn", "factor": 4.0, "rope_theta": 10000}""", "rope_type \"default\"" },
        { "scoring_func", "\"softmax\"", "sigmoid" },
        { "topk_method", "\"greedy\"", "noaux_tc" },
        { "moe_layer_freq", "2", "ignores the field" },
        { "attention_bias", "true", "no bias" },
        { "hidden_act", "\"gelu\"", "silu" },
        { "n_group", "8", "group-limited" },
        { "num_key_value_heads", null, "num_key_value_heads" },     // transformers' default is 128
        { "eos_token_id", "64", "token id from 0 to 63" },
        { "bos_token_id", "\"0\"", "bos_token_id" },
    };

    [Theory]
    [MemberData(nameof(Refused))]
    public void WhatTransformersComputesDifferentlyIsRefusedByField(string field, string? raw, string why)
    {
        var config = PublicShapedConfig();
        if (raw is null) config.Remove(field); else config[field] = JsonNode.Parse(raw);
        var dir = Folder(config);
        var e = Assert.Throws<SeekSharpException>(() => ModelFiles.Load(dir));
        Assert.Contains(Path.Combine(dir, "config.json"), e.Message);
        Assert.Contains($"'{field}'", e.Message);
        Assert.Contains(why, e.Message);
    }

    [Theory]
    [InlineData(true, false)]
    [InlineData(false, true)]
    [InlineData(true, true)]
    public void InterleavedRotaryWeightsAreReorderedAtLoad(bool queryCompression, bool missing)
    {
        // The same weights read as interleaved must equal a rotate-half model whose rotary rows were taken as
        // transformers' apply_rotary_pos_emb_interleave takes the activations: view(d/2, 2).transpose.
        var config = PublicShapedConfig();
        if (!queryCompression) config["q_lora_rank"] = null;
        if (missing) config.Remove("rope_interleave"); else config["rope_interleave"] = true;
        var interleavedDir = Folder(config, queryCompression);

        var weights = HfWeights(queryCompression);
        Tensor Reorder(Tensor w, long offset)
        {
            var rot = w.narrow(0, offset, Rope).view(Rope / 2, 2, w.shape[1]).transpose(0, 1).reshape(Rope, w.shape[1]);
            return cat([w.narrow(0, 0, offset), rot, w.narrow(0, offset + Rope, w.shape[0] - offset - Rope)], 0);
        }
        for (var l = 0; l < L; l++)
        {
            var q = $"model.layers.{l}.self_attn." + (queryCompression ? "q_b_proj.weight" : "q_proj.weight");
            weights[q] = cat(Enumerable.Range(0, H).Select(h => Reorder(weights[q].narrow(0, h * (Nope + Rope), Nope + Rope), Nope)).ToArray(), 0);
            var kv = $"model.layers.{l}.self_attn.kv_a_proj_with_mqa.weight";
            weights[kv] = Reorder(weights[kv], KvRank);
        }
        var plainDir = NewDir();
        config["rope_interleave"] = false;
        File.WriteAllText(Path.Combine(plainDir, "config.json"), config.ToJsonString());
        Safetensors.Save(Path.Combine(plainDir, "model.safetensors"), weights);

        using var interleaved = ModelFiles.Load(interleavedDir);
        using var plain = ModelFiles.Load(plainDir);
        Assert.False(interleaved.Config.RopeInterleave);             // held (and written back) as rotate-half
        using var scope = NewDisposeScope();
        var ids = tensor(new long[] { 3, 1, 4, 1, 5, 9, 2, 6 }).view(1, 8);
        var a = interleaved.Forward(ids).Logits;
        Assert.Equal(0, (a - plain.Forward(ids).Logits).abs().max().item<float>());
        // Not a no-op: read as rotate-half, the interleaved weights compute another model.
        config["rope_interleave"] = false;
        var asIs = NewDir();
        File.WriteAllText(Path.Combine(asIs, "config.json"), config.ToJsonString());
        File.Copy(Path.Combine(interleavedDir, "model.safetensors"), Path.Combine(asIs, "model.safetensors"));
        using var wrong = ModelFiles.Load(asIs);
        Assert.True((a - wrong.Forward(ids).Logits).abs().max().item<float>() > 1e-4);
        // The config alone cannot say which order the weights are in once loaded: ModelConfig.Load refuses it by name.
        Assert.Contains("rope_interleave", Assert.Throws<SeekSharpException>(() => ModelConfig.Load(Path.Combine(interleavedDir, "config.json"))).Message);
    }

    [Fact]
    public void TransformersFivesRopeParametersAreRead()
    {
        var config = PublicShapedConfig();
        config.Remove("rope_theta");
        config["rope_parameters"] = JsonNode.Parse("""{"rope_theta": 50000.0, "rope_type": "default"}""");
        using var model = ModelFiles.Load(Folder(config));
        Assert.Equal(50000, model.Config.RopeTheta);
    }
}
