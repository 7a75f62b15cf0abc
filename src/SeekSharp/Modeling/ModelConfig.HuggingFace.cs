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
// See docs/decisions/0013-hugging-face-config.md.

public sealed partial record ModelConfig
{
    /// <summary>The Hugging Face model_type of DeepSeek-V3, which transformers builds as DeepseekV3ForCausalLM.</summary>
    public const string DeepseekV3Type = "deepseek_v3";

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
