using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using SeekSharp.IO;

namespace SeekSharp.Modeling;

// The model's one config object, serialized as config.json with the Hugging Face DeepSeek-V3 keys so
// that other tools can read our checkpoints. Variants are switched by values, not subclasses:
// attention_type "mla" or "mha", n_routed_experts 0 for a dense model. Standard MHA is written as MLA's
// degenerate case (no latent, no "nope" part: qk_rope_head_dim = v_head_dim = head size), so one set of
// fields describes both. Rotary embeddings use the rotate-half layout (rope_interleave = false).

/// <summary>Architecture of a DeepSeek-V3-style decoder. Immutable; stored in every checkpoint.</summary>
public sealed partial record ModelConfig
{
    /// <summary>Tokens in the vocabulary (embedding rows).</summary>
    [JsonPropertyName("vocab_size")] public int VocabSize { get; init; } = 4096;
    /// <summary>Model width (d_model).</summary>
    [JsonPropertyName("hidden_size")] public int HiddenSize { get; init; } = 384;
    /// <summary>Hidden size of the dense SwiGLU feed-forward (dense layers and dense models).</summary>
    [JsonPropertyName("intermediate_size")] public int IntermediateSize { get; init; } = 1024;
    /// <summary>Hidden size of one fine-grained routed (or shared) expert.</summary>
    [JsonPropertyName("moe_intermediate_size")] public int MoeIntermediateSize { get; init; } = 256;
    /// <summary>Transformer blocks.</summary>
    [JsonPropertyName("num_hidden_layers")] public int NumHiddenLayers { get; init; } = 6;
    /// <summary>Attention heads.</summary>
    [JsonPropertyName("num_attention_heads")] public int NumAttentionHeads { get; init; } = 6;
    /// <summary>Key/value heads; equal to attention heads (no grouped-query attention yet).</summary>
    [JsonPropertyName("num_key_value_heads")] public int NumKeyValueHeads { get; init; } = 6;
    /// <summary>Routed experts per MoE layer; 0 makes every layer dense.</summary>
    [JsonPropertyName("n_routed_experts")] public int NRoutedExperts { get; init; }
    /// <summary>Always-active shared experts per MoE layer (merged into one SwiGLU of n × moe_intermediate_size).</summary>
    [JsonPropertyName("n_shared_experts")] public int NSharedExperts { get; init; }
    /// <summary>Routed experts each token is sent to (top-k).</summary>
    [JsonPropertyName("num_experts_per_tok")] public int NumExpertsPerTok { get; init; }
    /// <summary>The first k layers use the dense feed-forward instead of MoE.</summary>
    [JsonPropertyName("first_k_dense_replace")] public int FirstKDenseReplace { get; init; }
    /// <summary>Every n-th layer (after the first k) is MoE; DeepSeek-V3 uses 1.</summary>
    [JsonPropertyName("moe_layer_freq")] public int MoeLayerFreq { get; init; } = 1;
    /// <summary>Router affinity: "sigmoid" (DeepSeek-V3) or "softmax" (DeepSeek-V2).</summary>
    [JsonPropertyName("scoring_func")] public string ScoringFunc { get; init; } = "sigmoid";
    /// <summary>"noaux_tc": top-k over affinity + per-expert bias (auxiliary-loss-free balancing).</summary>
    [JsonPropertyName("topk_method")] public string TopkMethod { get; init; } = "noaux_tc";
    /// <summary>Normalize the selected experts' gate weights to sum to one.</summary>
    [JsonPropertyName("norm_topk_prob")] public bool NormTopkProb { get; init; } = true;
    /// <summary>Scale applied to routed experts' combined output.</summary>
    [JsonPropertyName("routed_scaling_factor")] public double RoutedScalingFactor { get; init; } = 1.0;
    /// <summary>Expert groups for group-limited routing; 1 means no grouping.</summary>
    [JsonPropertyName("n_group")] public int NGroup { get; init; } = 1;
    /// <summary>Groups each token may route to.</summary>
    [JsonPropertyName("topk_group")] public int TopkGroup { get; init; } = 1;
    /// <summary>Weight of the sequence-wise balance loss (the paper's alpha); 0 disables it.</summary>
    [JsonPropertyName("aux_loss_alpha")] public double AuxLossAlpha { get; init; }
    /// <summary>"mla" (Multi-head Latent Attention) or "mha" (standard multi-head attention).</summary>
    [JsonPropertyName("attention_type")] public string AttentionType { get; init; } = "mha";
    /// <summary>Query compression rank (MLA); 0 projects queries directly. Written as null, which is what
    /// transformers reads as "no compression" (a 0 there builds empty projections); 0 and null both load.</summary>
    [JsonPropertyName("q_lora_rank"), JsonConverter(typeof(ZeroAsNull))] public int QLoraRank { get; init; }
    /// <summary>Key-value latent rank (MLA); the KV cache stores this many values per token and layer.</summary>
    [JsonPropertyName("kv_lora_rank")] public int KvLoraRank { get; init; }
    /// <summary>Per-head query/key dimension that carries rotary position (MLA: decoupled RoPE key).</summary>
    [JsonPropertyName("qk_rope_head_dim")] public int QkRopeHeadDim { get; init; } = 64;
    /// <summary>Per-head query/key dimension without position (MLA only; 0 for MHA).</summary>
    [JsonPropertyName("qk_nope_head_dim")] public int QkNopeHeadDim { get; init; }
    /// <summary>Per-head value dimension.</summary>
    [JsonPropertyName("v_head_dim")] public int VHeadDim { get; init; } = 64;
    /// <summary>Longest sequence the rotary tables and caches are sized for.</summary>
    [JsonPropertyName("max_position_embeddings")] public int MaxPositionEmbeddings { get; init; } = 256;
    /// <summary>Rotary base frequency.</summary>
    [JsonPropertyName("rope_theta")] public double RopeTheta { get; init; } = 10000;
    /// <summary>Rotary layout; we use rotate-half (false), as Hugging Face's DeepSeek-V3 code does when false.</summary>
    [JsonPropertyName("rope_interleave")] public bool RopeInterleave { get; init; }
    /// <summary>RMSNorm epsilon.</summary>
    [JsonPropertyName("rms_norm_eps")] public double RmsNormEps { get; init; } = 1e-6;
    /// <summary>Multi-token prediction depth D (DeepSeek-V3 section 2.2): D sequential MTP modules after the main model,
    /// stored as layers num_hidden_layers .. num_hidden_layers+D-1; 0 for none. Decision 0021.</summary>
    [JsonPropertyName("num_nextn_predict_layers"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] public int NumNextnPredictLayers { get; init; }
    /// <summary>Share the embedding matrix with the output head.</summary>
    [JsonPropertyName("tie_word_embeddings")] public bool TieWordEmbeddings { get; init; } = true;
    /// <summary>Standard deviation of the normal weight initialization.</summary>
    [JsonPropertyName("initializer_range")] public double InitializerRange { get; init; } = 0.02;
    /// <summary>Hugging Face model type, for interoperability.</summary>
    [JsonPropertyName("model_type")] public string ModelType { get; init; } = "deepseek_v3";
    /// <summary>Hugging Face architecture name, for interoperability.</summary>
    [JsonPropertyName("architectures")] public string[] Architectures { get; init; } = ["DeepseekV3ForCausalLM"];
    /// <summary>Preset this config came from, if any (informational).</summary>
    [JsonPropertyName("seeksharp_preset")] public string? Preset { get; init; }

    [JsonIgnore] public bool IsMla => AttentionType == "mla";
    [JsonIgnore] public int QkHeadDim => QkNopeHeadDim + QkRopeHeadDim;

    /// <summary>True when layer <paramref name="i"/> uses the MoE feed-forward.</summary>
    public bool IsMoeLayer(int i) =>
        NRoutedExperts > 0 && i >= FirstKDenseReplace && (i - FirstKDenseReplace) % Math.Max(1, MoeLayerFreq) == 0;

    // Bounds well above any DeepSeek-style model (V3: 129k vocabulary, width 7168, 61 layers, 128 heads,
    // 256 experts, 163k positions) and far below what would overflow a size or exhaust memory: a hostile
    // config.json must fail here, before anything is allocated, not inside libtorch.
    internal const int MaxVocab = 1 << 21, MaxWidth = 1 << 16, MaxFeedForward = 1 << 18, MaxLayers = 1024, MaxHeads = 1024,
        MaxHeadDim = 4096, MaxRank = 1 << 16, MaxExperts = 4096, MaxSharedExperts = 256, MaxPositions = 1 << 20;
    /// <summary>Rotary table entries (positions × rotary dims): the tables are built in full when the model is.</summary>
    /// <summary>Most MTP modules a config may ask for (DeepSeek-V3 uses 1).</summary>
    public const int MaxMtpDepth = 8;
    internal const long MaxRotaryEntries = 1L << 24;
    /// <summary>Parameters a config may describe at most (10^12): the Transformer allocates them all.</summary>
    internal const long MaxParams = 1_000_000_000_000;

    /// <summary>Checks every field against its meaning and a sane bound; throws a <see cref="SeekSharpException"/> naming the first bad one.</summary>
    public ModelConfig Validate(string source = "config")
    {
        void Need(bool ok, string field, string expected)
        {
            if (!ok) throw new SeekSharpException($"{source}: field '{field}' is invalid: expected {expected}.");
        }
        void Count(int value, string field, int min, int max, string? why = null) =>
            Need(value >= min && value <= max, field, $"an integer from {min} to {max:N0}{why}, found {value}");
        void Real(double value, string field, bool positive, double max = double.MaxValue) =>
            Need(double.IsFinite(value) && (positive ? value > 0 : value >= 0) && value <= max, field,
                $"a finite number {(positive ? "above 0" : "of 0 or more")}{(max < double.MaxValue ? $" and at most {max}" : "")}, found {value}");

        Count(VocabSize, "vocab_size", 1, MaxVocab);
        Count(HiddenSize, "hidden_size", 1, MaxWidth);
        Count(NumHiddenLayers, "num_hidden_layers", 1, MaxLayers);
        Count(NumNextnPredictLayers, "num_nextn_predict_layers", 0, MaxMtpDepth);
        Count(NumAttentionHeads, "num_attention_heads", 1, MaxHeads);
        Need(NumKeyValueHeads == NumAttentionHeads, "num_key_value_heads", $"equal to num_attention_heads ({NumAttentionHeads})");
        Need(AttentionType is "mla" or "mha", "attention_type", "\"mla\" or \"mha\"");
        Need(QkRopeHeadDim > 0 && QkRopeHeadDim % 2 == 0 && QkRopeHeadDim <= MaxHeadDim, "qk_rope_head_dim", $"a positive even integer of at most {MaxHeadDim}, found {QkRopeHeadDim}");
        Count(VHeadDim, "v_head_dim", 1, MaxHeadDim);
        Count(IntermediateSize, "intermediate_size", 1, MaxFeedForward);
        Count(MaxPositionEmbeddings, "max_position_embeddings", 1, MaxPositions);
        Need((long)MaxPositionEmbeddings * QkRopeHeadDim <= MaxRotaryEntries, "max_position_embeddings",
            $"at most {MaxRotaryEntries / QkRopeHeadDim:N0} with qk_rope_head_dim {QkRopeHeadDim} (the rotary tables hold positions × dims ≤ {MaxRotaryEntries:N0} entries)");
        Real(RopeTheta, "rope_theta", positive: true);
        Need(!RopeInterleave, "rope_interleave", "false (an interleaved rotary layout is read for MLA models only, by reordering their weights at load)");
        Real(RmsNormEps, "rms_norm_eps", positive: true, max: 1);
        Real(InitializerRange, "initializer_range", positive: false, max: 1e3);
        Real(RoutedScalingFactor, "routed_scaling_factor", positive: true, max: 1e6);
        Real(AuxLossAlpha, "aux_loss_alpha", positive: false, max: 1e6);
        Count(MoeLayerFreq, "moe_layer_freq", 1, MaxLayers);
        Count(FirstKDenseReplace, "first_k_dense_replace", 0, MaxLayers);
        Count(QLoraRank, "q_lora_rank", 0, MaxRank);
        Count(KvLoraRank, "kv_lora_rank", 0, MaxRank);
        Count(QkNopeHeadDim, "qk_nope_head_dim", 0, MaxHeadDim);
        if (IsMla)
        {
            Need(KvLoraRank > 0, "kv_lora_rank", "a positive integer for attention_type \"mla\"");
            Need(QkNopeHeadDim > 0, "qk_nope_head_dim", "a positive integer for attention_type \"mla\"");
        }
        else
        {
            Need(QkNopeHeadDim == 0 && KvLoraRank == 0 && QLoraRank == 0, "qk_nope_head_dim",
                "0 together with kv_lora_rank and q_lora_rank for attention_type \"mha\"");
            Need(VHeadDim == QkRopeHeadDim, "v_head_dim", $"equal to qk_rope_head_dim ({QkRopeHeadDim}) for attention_type \"mha\"");
        }
        Count(NRoutedExperts, "n_routed_experts", 0, MaxExperts, " (0: dense)");
        Count(NSharedExperts, "n_shared_experts", 0, MaxSharedExperts);
        Count(MoeIntermediateSize, "moe_intermediate_size", 0, MaxFeedForward);
        Count(NumExpertsPerTok, "num_experts_per_tok", 0, MaxExperts);
        if (NRoutedExperts > 0)
        {
            Need(NumExpertsPerTok > 0 && NumExpertsPerTok <= NRoutedExperts, "num_experts_per_tok", $"between 1 and n_routed_experts ({NRoutedExperts})");
            Need(MoeIntermediateSize > 0, "moe_intermediate_size", "a positive integer");
            Need(ScoringFunc is "sigmoid" or "softmax", "scoring_func", "\"sigmoid\" or \"softmax\"");
            Need(TopkMethod is "noaux_tc" or "greedy", "topk_method", "\"noaux_tc\" or \"greedy\"");
            // transformers' DeepseekV3 reads none of these three: it always routes by sigmoid with the correction
            // bias and makes every layer after the dense ones MoE. A config that says otherwise computes
            // something else there, so it is refused rather than written under that name.
            if (ModelType is DeepseekV3Type or Glm4MoeType)
            {
                Need(ScoringFunc == "sigmoid", "scoring_func", $"\"sigmoid\" for model_type \"{ModelType}\" (transformers ignores the field and always uses sigmoid), found \"{ScoringFunc}\"");
                Need(TopkMethod == "noaux_tc", "topk_method", $"\"noaux_tc\" for model_type \"{ModelType}\" (transformers ignores the field and always adds the correction bias), found \"{TopkMethod}\"");
                Need(MoeLayerFreq == 1, "moe_layer_freq", $"1 for model_type \"{ModelType}\" (transformers ignores the field and makes every layer from first_k_dense_replace on MoE), found {MoeLayerFreq}");
            }
            Need(NGroup == 1, "n_group", $"1 (group-limited routing is not implemented), found {NGroup}");
            Need(TopkGroup == 1, "topk_group", $"1 (group-limited routing is not implemented), found {TopkGroup}");
        }
        // Every field is bounded now, so the count below cannot overflow.
        var parameters = ModelCost.Of(this).TotalParams;
        if (parameters > MaxParams)
            throw new SeekSharpException($"{source}: the config describes {parameters:N0} parameters, more than the {MaxParams:N0} a model may have here; check vocab_size, hidden_size, num_hidden_layers and the expert fields.");
        return this;
    }

    public static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    /// <summary>config.json text. A dense model is written with first_k_dense_replace = num_hidden_layers (the same
    /// model to us): transformers' DeepseekV3 decides MoE by the layer index alone, so 0 there would build MoE layers.</summary>
    public string ToJson() => HuggingFaceJson(NRoutedExperts == 0 ? this with { FirstKDenseReplace = NumHiddenLayers } : this);

    /// <summary>Reads and validates a config.json, ours or a Hugging Face DeepSeek-V3 one; errors name the file and the field.
    /// A config of interleaved rotary weights is refused here: only <c>ModelFiles.Load</c>, which reorders the weights, reads one.</summary>
    public static ModelConfig Load(string path)
    {
        var cfg = Load(path, out var interleaved);
        if (interleaved)
            throw new SeekSharpException($"{path}: field 'rope_interleave' is true (weights in interleaved rotary order); load the model folder, which reorders them, rather than the config alone.");
        return cfg;
    }

    /// <summary>As <see cref="Load(string)"/>; an MLA config with rope_interleave true comes back as the rotate-half model
    /// it equals once the rotary rows of the query and k_pe projections are reordered, which the caller must do.</summary>
    internal static ModelConfig Load(string path, out bool interleaved)
    {
        var bytes = CheckedFile.ReadAllBytes(path, "model config not found (expected a config.json written by SeekSharp).", CheckedFile.MaxConfigBytes);
        return Parse(bytes, path, out interleaved);
    }

    /// <summary>A config.json's text received from elsewhere (a DiLoCo hub), checked as <see cref="Load(string)"/> checks a file.</summary>
    public static ModelConfig FromJson(string json, string source)
    {
        var cfg = Parse(System.Text.Encoding.UTF8.GetBytes(json), source, out var interleaved);
        if (interleaved) throw new SeekSharpException($"{source}: field 'rope_interleave' is true; expected a rotate-half config.");
        return cfg;
    }

    static ModelConfig Parse(byte[] bytes, string path, out bool interleaved)
    {
        if (!System.Text.Unicode.Utf8.IsValid(bytes)) throw new SeekSharpException($"{path}: malformed model config: not valid UTF-8 text.");
        JsonNode? node;
        try { node = JsonNode.Parse(bytes); }
        catch (JsonException e) { throw new SeekSharpException($"{path}: malformed model config: {e.Message}"); }
        if (node is null) throw new SeekSharpException($"{path}: model config is empty (expected a JSON object).");
        if (node is not JsonObject obj) throw new SeekSharpException($"{path}: malformed model config: expected a JSON object, found {node.GetValueKind()}.");
        ReadHuggingFace(obj, path);
        ModelConfig? cfg;
        try { cfg = obj.Deserialize<ModelConfig>(Json); }
        catch (JsonException e) { throw new SeekSharpException($"{path}: malformed model config: {e.Message}"); }
        if (cfg is null) throw new SeekSharpException($"{path}: model config is empty (expected a JSON object).");
        interleaved = cfg.RopeInterleave && cfg.IsMla;
        if (interleaved) cfg = cfg with { RopeInterleave = false };
        cfg.Validate(path);
        CheckTokenIds(obj, cfg, path);
        return cfg;
    }
}
