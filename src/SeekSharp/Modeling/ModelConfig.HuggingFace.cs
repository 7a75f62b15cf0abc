using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace SeekSharp.Modeling;

// Reading a config.json that transformers wrote (or the public DeepSeek-V3 one) as transformers reads it.
// Such a file has no attention_type: transformers' DeepseekV3 always builds MLA, and fills every missing
// field from its own defaults, which differ from ours (tie_word_embeddings false, rope_interleave true,
// q_lora_rank 1536, ...). So a file without attention_type gets transformers' defaults for what it lacks,
// and then the same validation as ours. Keys that change what transformers computes and that we do not
// implement (rope_scaling, attention_bias, another hidden_act) are refused by name instead of ignored.
// MHA models are written, and read, as the transformers architecture that computes exactly them (DeepseekV3
// with ranks of 0 would be loaded with freshly initialized MLA weights): a dense one as LlamaForCausalLM
// (rotate-half over the whole head, head_dim = qk_rope_head_dim), MHA + MoE with the sigmoid router and its
// correction bias as Glm4MoeForCausalLM (partial_rotary_factor 1.0, use_qk_norm false, explicit
// rms_norm_eps). Their tensor names are ours already (self_attn.{q,k,v,o}_proj, mlp.{gate,up,down}_proj,
// mlp.gate.e_score_correction_bias, mlp.shared_experts.*). Such files carry only transformers' keys (plus
// aux_loss_alpha and seeksharp_preset, which transformers ignores) and are read back through the same
// mapping as one transformers wrote. See docs/decisions/0013-hugging-face-config.md.

public sealed partial record ModelConfig
{
    /// <summary>The Hugging Face model_type of DeepSeek-V3, which transformers builds as DeepseekV3ForCausalLM.</summary>
    public const string DeepseekV3Type = "deepseek_v3";

    /// <summary>transformers' model_type of LlamaForCausalLM and of Glm4MoeForCausalLM.</summary>
    public const string LlamaType = "llama", Glm4MoeType = "glm4_moe";

    /// <summary>transformers' LlamaConfig defaults (head_dim: hidden_size / num_attention_heads, filled in later).</summary>
    static readonly (string Key, JsonNode? Value)[] LlamaDefaults =
    [
        ("vocab_size", 32000), ("hidden_size", 4096), ("intermediate_size", 11008), ("num_hidden_layers", 32),
        ("num_attention_heads", 32), ("max_position_embeddings", 2048), ("initializer_range", 0.02), ("rms_norm_eps", 1e-6),
        ("tie_word_embeddings", false), ("rope_theta", 10000.0), ("n_routed_experts", 0), ("aux_loss_alpha", 0.0),
    ];

    /// <summary>transformers' Glm4MoeConfig defaults; partial_rotary_factor 0.5 there is refused below.</summary>
    static readonly (string Key, JsonNode? Value)[] Glm4MoeDefaults =
    [
        ("vocab_size", 151552), ("hidden_size", 4096), ("intermediate_size", 10944), ("num_hidden_layers", 46),
        ("num_attention_heads", 96), ("num_key_value_heads", 8), ("partial_rotary_factor", 0.5), ("max_position_embeddings", 131072),
        ("initializer_range", 0.02), ("rms_norm_eps", 1e-5), ("tie_word_embeddings", false), ("rope_theta", 10000.0),
        ("moe_intermediate_size", 1408), ("num_experts_per_tok", 8), ("n_shared_experts", 1), ("n_routed_experts", 128),
        ("routed_scaling_factor", 1.0), ("n_group", 1), ("topk_group", 1), ("first_k_dense_replace", 1), ("norm_topk_prob", true),
        // Glm4Moe's router is DeepseekV3's: always sigmoid with the correction bias, every layer from first_k_dense_replace on MoE.
        ("scoring_func", "sigmoid"), ("topk_method", "noaux_tc"), ("moe_layer_freq", 1), ("aux_loss_alpha", 0.0),
    ];

    /// <summary>The keys a Llama / Glm4Moe config.json of ours carries (transformers' names; head_dim is written from qk_rope_head_dim).</summary>
    static readonly string[] LlamaKeys =
    [
        "architectures", "model_type", "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
        "num_key_value_heads", "max_position_embeddings", "initializer_range", "rms_norm_eps", "tie_word_embeddings", "rope_theta",
        "aux_loss_alpha", "seeksharp_preset",
    ];
    static readonly string[] Glm4MoeKeys =
    [
        .. LlamaKeys, "moe_intermediate_size", "num_experts_per_tok", "n_shared_experts", "n_routed_experts", "routed_scaling_factor",
        "n_group", "topk_group", "first_k_dense_replace", "norm_topk_prob",
    ];

    /// <summary>The transformers architecture that computes exactly this MHA model, or null (MLA: DeepseekV3, ours).</summary>
    static string? MhaArchitecture(ModelConfig cfg) =>
        cfg.IsMla ? null
        : cfg.NRoutedExperts == 0 ? LlamaType
        : cfg.ScoringFunc == "sigmoid" && cfg.TopkMethod == "noaux_tc" && cfg.MoeLayerFreq == 1 ? Glm4MoeType
        : null; // a softmax router over MHA has no exact transformers twin: written with our own keys

    /// <summary>config.json text for <paramref name="cfg"/>: our DeepseekV3 keys, or an MHA model as Llama / Glm4Moe.</summary>
    static string HuggingFaceJson(ModelConfig cfg)
    {
        var arch = MhaArchitecture(cfg);
        if (arch is null) return JsonSerializer.Serialize(cfg, Json);
        var full = JsonSerializer.SerializeToNode(cfg, Json)!.AsObject();
        var obj = new JsonObject();
        foreach (var key in arch == LlamaType ? LlamaKeys : Glm4MoeKeys)
            obj[key] = full[key]?.DeepClone();
        obj["model_type"] = arch;
        obj["architectures"] = new JsonArray(arch == LlamaType ? "LlamaForCausalLM" : "Glm4MoeForCausalLM");
        obj["head_dim"] = cfg.QkRopeHeadDim;
        // Glm4Moe reads it as DeepSeek-V3 does; Llama ignores it (its MTP layers are ignored by transformers too).
        if (cfg.NumNextnPredictLayers > 0) obj["num_nextn_predict_layers"] = cfg.NumNextnPredictLayers;
        obj["hidden_act"] = "silu";
        obj["attention_bias"] = false;
        if (arch == LlamaType) obj["mlp_bias"] = false;
        else { obj["partial_rotary_factor"] = 1.0; obj["use_qk_norm"] = false; }
        return obj.ToJsonString(Json);
    }

    /// <summary>A Llama / Glm4Moe config.json (ours or transformers'): transformers' defaults for what it lacks, then
    /// our MHA fields from head_dim; what transformers computes differently is refused by field.</summary>
    static void ReadMha(JsonObject obj, string path, string modelType)
    {
        SeekSharpException Bad(string field, string expected, JsonNode? found) =>
            new($"{path}: field '{field}' is invalid: expected {expected}, found {found?.ToJsonString() ?? "nothing (transformers' default)"}.");
        bool llama = modelType == LlamaType;
        foreach (var (key, value) in llama ? LlamaDefaults : Glm4MoeDefaults)
            if (!obj.ContainsKey(key)) obj[key] = value?.DeepClone();
        if (obj["num_key_value_heads"] is null) obj["num_key_value_heads"] = obj["num_attention_heads"]?.DeepClone();
        if (llama && obj["mlp_bias"] is { } mb && mb.GetValueKind() != JsonValueKind.False)
            throw Bad("mlp_bias", "false (SeekSharp's MLP has no bias)", mb);
        if (!llama)
        {
            var prf = obj["partial_rotary_factor"];
            if (prf is not JsonValue pv || !pv.TryGetValue<double>(out var f) || f != 1.0)
                throw Bad("partial_rotary_factor", "1.0 (SeekSharp rotates the whole head)", prf);
            if (obj["use_qk_norm"] is { } qn && qn.GetValueKind() != JsonValueKind.False)
                throw Bad("use_qk_norm", "false (SeekSharp has no query/key norm)", qn);
        }
        // head_dim: transformers' default is hidden_size / num_attention_heads.
        var head = obj["head_dim"]?.DeepClone();
        if (head is null && obj["hidden_size"] is JsonValue hs && obj["num_attention_heads"] is JsonValue nh
            && hs.TryGetValue<int>(out var hidden) && nh.TryGetValue<int>(out var heads) && heads > 0)
            head = hidden / heads;
        obj["attention_type"] = "mha";
        obj["qk_rope_head_dim"] = head;
        obj["v_head_dim"] = head?.DeepClone();
        obj["qk_nope_head_dim"] = 0;
        obj["q_lora_rank"] = 0;
        obj["kv_lora_rank"] = 0;
        obj["rope_interleave"] = false;
    }

    /// <summary>The token-id keys of config.json and generation_config.json (written from the tokenizer beside the model).</summary>
    public static readonly string[] TokenIdKeys = ["bos_token_id", "eos_token_id", "pad_token_id"];

    /// <summary>transformers' DeepseekV3Config defaults, for the fields a file without attention_type may leave out.</summary>
    static readonly (string Key, JsonNode? Value)[] DeepseekV3Defaults =
    [
        ("vocab_size", 129280), ("hidden_size", 7168), ("intermediate_size", 18432), ("moe_intermediate_size", 2048),
        ("num_hidden_layers", 61), ("num_attention_heads", 128), ("num_key_value_heads", 128), ("n_shared_experts", 1),
        ("n_routed_experts", 256), ("routed_scaling_factor", 2.5), ("kv_lora_rank", 512), ("q_lora_rank", 1536),
        ("qk_rope_head_dim", 64), ("v_head_dim", 128), ("qk_nope_head_dim", 128), ("n_group", 8), ("topk_group", 4),
        ("num_experts_per_tok", 8), ("first_k_dense_replace", 3), ("norm_topk_prob", true), ("max_position_embeddings", 4096),
        ("initializer_range", 0.02), ("rms_norm_eps", 1e-6), ("tie_word_embeddings", false), ("rope_theta", 10000.0),
        // What transformers does not read at all, it computes as these (sigmoid, bias, every layer MoE).
        ("scoring_func", "sigmoid"), ("topk_method", "noaux_tc"), ("moe_layer_freq", 1),
        // Training-only for us: transformers has no balance loss.
        ("aux_loss_alpha", 0.0),
    ];

    /// <summary>Checks the keys only transformers writes and, for a file without attention_type, fills in what
    /// transformers would assume; edits <paramref name="obj"/> in place before it is deserialized.</summary>
    static void ReadHuggingFace(JsonObject obj, string path)
    {
        SeekSharpException Bad(string field, string expected) => new($"{path}: field '{field}' is invalid: expected {expected}.");
        if (obj["rope_scaling"] is { } scaling)
            throw Bad("rope_scaling", $"null or absent, found {scaling.ToJsonString()} (rope_scaling: not supported; SeekSharp implements plain rotary embeddings only, and would silently compute another model)");
        if (obj["rope_parameters"] is { } rp)
        {
            // transformers 5 writes rope_parameters {rope_theta, rope_type} in place of rope_theta.
            var type = rp is JsonObject o ? (o["rope_type"] ?? o["type"]) : null;
            if (rp is not JsonObject rpo || type is null || type.GetValueKind() != JsonValueKind.String || type.GetValue<string>() != "default")
                throw Bad("rope_parameters", $"an object with rope_type \"default\", found {rp.ToJsonString()} (scaled rotary embeddings are not supported)");
            if (rpo["rope_theta"] is { } theta) obj["rope_theta"] = theta.DeepClone();
        }
        if (obj["attention_bias"] is { } bias && !(bias.GetValueKind() == JsonValueKind.False))
            throw Bad("attention_bias", $"false (SeekSharp's projections have no bias), found {bias.ToJsonString()}");
        if (obj["hidden_act"] is { } act && !(act.GetValueKind() == JsonValueKind.String && act.GetValue<string>() == "silu"))
            throw Bad("hidden_act", $"\"silu\" (SwiGLU), found {act.ToJsonString()}");

        if (obj.ContainsKey("attention_type")) return;                    // ours: every field is written
        var modelType = obj["model_type"];
        if (modelType is JsonValue mt && mt.GetValueKind() == JsonValueKind.String && mt.GetValue<string>() is LlamaType or Glm4MoeType)
        {
            ReadMha(obj, path, mt.GetValue<string>());
            return;
        }
        if (modelType is null || modelType.GetValueKind() != JsonValueKind.String || modelType.GetValue<string>() != DeepseekV3Type) return;
        obj["attention_type"] = "mla";                                       // transformers' DeepseekV3 is always MLA
        // Missing means true there (DeepSeek's own release): weights in interleaved rotary order, reordered at load.
        if (!obj.ContainsKey("rope_interleave")) obj["rope_interleave"] = true;
        foreach (var (key, value) in DeepseekV3Defaults)
            if (!obj.ContainsKey(key)) obj[key] = value?.DeepClone();
        if (obj["num_key_value_heads"] is null) obj["num_key_value_heads"] = obj["num_attention_heads"]?.DeepClone();
    }

    /// <summary>bos/eos/pad ids, where a config has them: null or a token id (eos also a list of them, as transformers allows).</summary>
    static void CheckTokenIds(JsonObject obj, ModelConfig cfg, string path)
    {
        bool IsId(JsonNode? n) => n is JsonValue v && v.GetValueKind() == JsonValueKind.Number && v.TryGetValue<int>(out var id) && id >= 0 && id < cfg.VocabSize;
        foreach (var key in TokenIdKeys)
        {
            if (!obj.TryGetPropertyValue(key, out var node) || node is null || IsId(node)) continue;
            if (key == "eos_token_id" && node is JsonArray list && list.Count > 0 && list.All(IsId)) continue;
            throw new SeekSharpException($"{path}: field '{key}' is invalid: expected null or a token id from 0 to {cfg.VocabSize - 1}"
                + (key == "eos_token_id" ? " (or a list of them)" : "") + $", found {node.ToJsonString()}.");
        }
    }

    /// <summary>An int where 0 means "none": written as null, read from null or an integer.</summary>
    sealed class ZeroAsNull : JsonConverter<int>
    {
        public override bool HandleNull => true;

        public override int Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
            reader.TokenType == JsonTokenType.Null ? 0
            : reader.TokenType == JsonTokenType.Number && reader.TryGetInt32(out var value) ? value
            : throw new JsonException(); // the serializer's message names the field and the line

        public override void Write(Utf8JsonWriter writer, int value, JsonSerializerOptions options)
        {
            if (value == 0) writer.WriteNullValue();
            else writer.WriteNumberValue(value);
        }
    }
}
