using System.Text.Json.Nodes;
using static SeekSharp.Tests.Checkpoints.HostileFolder;
using static TorchSharp.torch;

namespace SeekSharp.Tests.Checkpoints;

/// <summary>The table of hostile model folders: every config field times a set of bad values, every way a
/// safetensors file can lie, malformed tokenizer.json files, and things that are not regular files.</summary>
public static class HostileModelFolderCases
{
    const string Embed = "model.embed_tokens.weight", Norm0 = "model.layers.0.input_layernorm.weight",
        Norm1 = "model.layers.1.input_layernorm.weight", Expert = "model.layers.1.mlp.experts.0.gate_proj.weight", FinalNorm = "model.norm.weight";

    /// <summary>Values every config field is set to in turn; null removes the field.</summary>
    static readonly (string Label, string? Raw)[] ConfigValues =
    [
        ("0", "0"), ("-1", "-1"), ("10^9", "1000000000"), ("2*10^9", "2000000000"), ("2^31", "2147483648"), ("1e9", "1e9"),
        ("0.5", "0.5"), ("-1e308", "-1e308"), ("1e400", "1e400"), ("a string", "\"abc\""), ("a numeric string", "\"64\""),
        ("null", "null"), ("true", "true"), ("an array", "[1]"), ("an object", "{}"), ("missing", null),
    ];

    /// <summary>(field, value) pairs that make a config that is still valid and still matches the weights: they must load.</summary>
    static readonly HashSet<string> ValidAfterAll =
    [
        // Informational fields.
        "model_type=a string", "model_type=a numeric string", "model_type=null", "model_type=missing",
        "architectures=null", "architectures=missing", "seeksharp_preset=a string", "seeksharp_preset=a numeric string", "seeksharp_preset=null", "seeksharp_preset=missing",
        // Numbers that only shape training or rotary frequencies, inside their bounds.
        "initializer_range=0", "initializer_range=0.5", "initializer_range=missing",
        "aux_loss_alpha=0", "aux_loss_alpha=0.5", "aux_loss_alpha=missing",
        "rope_theta=10^9", "rope_theta=2*10^9", "rope_theta=2^31", "rope_theta=1e9", "rope_theta=0.5", "rope_theta=missing",
        "rms_norm_eps=0.5", "rms_norm_eps=missing", "routed_scaling_factor=0.5", "routed_scaling_factor=missing",
        // A longer or shorter rotary table than saved: no weight depends on it.
        "max_position_embeddings=missing",
        // Defaults equal to the saved value.
        "norm_topk_prob=true", "norm_topk_prob=missing", "rope_interleave=missing", "tie_word_embeddings=true", "tie_word_embeddings=missing",
        "moe_layer_freq=missing", "n_group=missing", "topk_group=missing", "scoring_func=missing", "topk_method=missing",
        // A Hugging Face DeepSeek-V3 config has no attention_type: transformers always builds MLA, and so do we.
        "attention_type=missing",
        // Interleaved rotary weights (transformers' rope_interleave) are reordered into ours at load.
        "rope_interleave=true",
        // Token ids are for transformers (SeekSharp reads the tokenizer): null, absent or any id below vocab_size; eos may be a list.
        "bos_token_id=0", "bos_token_id=null", "bos_token_id=missing", "eos_token_id=0", "eos_token_id=null", "eos_token_id=an array",
        "eos_token_id=missing", "pad_token_id=0", "pad_token_id=null", "pad_token_id=missing",
    ];

    public static IEnumerable<HostileCase> ConfigCases(JsonObject saved)
    {
        foreach (var (key, _) in saved)
            foreach (var (label, raw) in ConfigValues)
            {
                var name = $"{key}={label}";
                yield return new HostileCase($"config {name}", Config, SetJson(Config, key, raw), [], ValidAfterAll.Contains(name))
                {
                    OrFile = Weights,
                    // The field itself, or (where the config is valid but describes other weights) the tensor that differs.
                    AnyOf = [key, "tensor"],
                };
            }
        yield return new("config not JSON", Config, WriteText(Config, "{ not json"), ["malformed"]);
        yield return new("config an array", Config, WriteText(Config, "[1, 2]"), ["malformed"]);
        yield return new("config null", Config, WriteText(Config, "null"), ["empty"]);
        yield return new("config empty file", Config, WriteText(Config, ""), ["malformed"]);
        yield return new("config deeply nested", Config, WriteText(Config, "{\"a\":" + new string('[', 100_000) + "}"), ["malformed"]);
        yield return new("config 2 MiB", Config, Grow(Config, 2 << 20), ["bytes, more than"]);
        yield return new("config invalid UTF-8", Config, WriteBytes(Config, [0x7B, 0x22, 0xFF, 0xFE, 0x22, 0x3A, 0x31, 0x7D]), ["UTF-8"]);
        yield return new("config MoE layers without experts", Config, SetJson(Config, "first_k_dense_replace", "0"), ["n_routed_experts", "missing"]);
        yield return new("config 4096 experts", Config, SetJson(Config, "n_routed_experts", "4096"), ["n_routed_experts"]);
        yield return new("config 10^6 experts", Config, SetJson(Config, "n_routed_experts", "1000000"), ["n_routed_experts", "4,096"]);
        yield return new("config 1024 layers", Config, SetJson(Config, "num_hidden_layers", "1024"), ["num_hidden_layers"]);
        yield return new("config huge but valid sizes", Config, EditJson(Config, o => { o["intermediate_size"] = 200_000; o["hidden_size"] = 32; }), ["parameters"]);
    }

    public static IEnumerable<HostileCase> WeightsCases()
    {
        HostileCase W(string name, Action<string> corrupt, params string[] expect) => new($"weights {name}", Weights, corrupt, expect);
        Action<string> Entry(string tensor, string field, string? raw) =>
            EditHeader(h => { if (raw is null) ((JsonObject)h[tensor]!).Remove(field); else h[tensor]![field] = JsonNode.Parse(raw); });

        foreach (var keep in new[] { 0, 4, 7, 8, 16 }) yield return W($"truncated to {keep} bytes", Truncate(Weights, _ => keep), Weights);
        yield return W("truncated by half", Truncate(Weights, n => n / 2), Weights);
        yield return W("truncated by one byte", Truncate(Weights, n => n - 1), Weights);
        yield return W("one byte appended", dir => File.AppendAllText(Path.Combine(dir, Weights), "x"), "belongs to no tensor");
        foreach (var (label, length) in new (string, ulong)[] { ("the file size", 0), ("2^63", 1UL << 63), ("2^64-1", ulong.MaxValue), ("100 MB + 1", 100_000_001), ("zero", 0) })
            yield return W($"header length {label}", dir =>
            {
                var path = Path.Combine(dir, Weights);
                var (header, data) = ReadSafetensors(path);
                WriteSafetensors(path, header.ToJsonString(), data, label == "the file size" ? (ulong)new FileInfo(path).Length : length);
            }, "header");
        foreach (var (label, text) in new[] { ("not JSON", "{ nope"), ("an array", "[]"), ("a string", "\"x\""), ("unterminated", "{\"a\":{"), ("deeply nested", new string('[', 100_000)) })
            yield return W($"header {label}", dir => WriteSafetensors(Path.Combine(dir, Weights), text, ReadSafetensors(Path.Combine(dir, Weights)).Data), "header");
        yield return W("header invalid UTF-8", dir =>
        {
            var path = Path.Combine(dir, Weights);
            var data = ReadSafetensors(path).Data;
            WriteSafetensors(path, "{\"\uFFFD\":1}", data);
            var bytes = File.ReadAllBytes(path);
            bytes[10] = 0xFF; bytes[11] = 0xFE; bytes[12] = 0xFF; // the replacement character's three bytes, now invalid UTF-8
            File.WriteAllBytes(path, bytes);
        }, "header");

        foreach (var (label, raw) in new[] { ("[0, 2^62]", "[0, 4611686018427387904]"), ("[-1, 4]", "[-1, 4]"), ("strings", "[\"0\", \"4\"]"), ("reversed", "[8, 0]"),
                     ("one number", "[0]"), ("three numbers", "[0, 4, 8]"), ("null", "null"), ("an object", "{}"), ("fractions", "[0.5, 4.5]"), ("missing", null) })
            yield return W($"data_offsets {label}", Entry(Embed, "data_offsets", raw), Embed);
        foreach (var (label, raw) in new[] { ("[10^18, 10^18]", "[1000000000000000000, 1000000000000000000]"), ("negative", "[-1, 32]"), ("strings", "[\"a\"]"),
                     ("fractions", "[0.5]"), ("20 dimensions", "[" + string.Join(",", Enumerable.Repeat(1, 20)) + "]"), ("null", "null"), ("missing", null) })
            yield return W($"shape {label}", Entry(Embed, "shape", raw), Embed);
        foreach (var (label, raw) in new[] { ("STR", "\"STR\""), ("string", "\"string\""), ("lower-case f32", "\"f32\""), ("a number", "5"), ("null", "null"),
                     ("missing", null) })
            yield return W($"dtype {label}", Entry(Embed, "dtype", raw), Embed, "dtype");
        // F8_E4M3 is read (as bytes, for quantized folders): here its one-byte size disagrees with the data offsets.
        yield return W("dtype F8_E4M3 (one byte per value)", Entry(Embed, "dtype", "\"F8_E4M3\""), Embed, "F8_E4M3");
        yield return W("dtype I32 (same size, not float)", Entry(Norm0, "dtype", "\"I32\""), Norm0, "floating-point");
        yield return W("dtype F16 (other byte size)", Entry(Norm0, "dtype", "\"F16\""), Norm0);
        yield return W("shape transposed (same bytes)", EditHeader(h => h[Embed]!["shape"] = new JsonArray(32, h[Embed]!["shape"]![0]!.GetValue<long>())), Embed, "shape");
        yield return W("shape flattened (same bytes)", EditHeader(h => h[Norm0]!["shape"] = new JsonArray(4, 8)), Norm0, "shape");
        yield return W("overlapping tensors", EditHeader(h => h[Norm1]!["data_offsets"] = h[Norm0]!["data_offsets"]!.DeepClone()), "overlaps");
        yield return W("a tensor entry is a number", EditHeader(h => h[Norm0] = 5), Norm0);
        yield return W("metadata not strings", EditHeader(h => h["__metadata__"] = new JsonObject { ["step"] = 5 }), "__metadata__");
        yield return W("metadata an array", EditHeader(h => h["__metadata__"] = new JsonArray()), "__metadata__");
        yield return W("a name twice", dir =>
        {
            var path = Path.Combine(dir, Weights);
            var (header, data) = ReadSafetensors(path);
            var entry = header[FinalNorm]!.ToJsonString();
            WriteSafetensors(path, $"{{\"{FinalNorm}\":{entry},{header.ToJsonString()[1..]}", data);
        }, "more than once");

        foreach (var (label, value) in new[] { ("NaN", float.NaN), ("+Inf", float.PositiveInfinity), ("-Inf", float.NegativeInfinity) })
        {
            yield return W($"{label} in the embedding", PokeFloat(Embed, 5, value), Embed, "NaN or infinite");
            yield return W($"{label} in an expert", PokeFloat(Expert, 0, value), Expert, "NaN or infinite");
            yield return W($"{label} in the final norm", PokeFloat(FinalNorm, 31, value), FinalNorm, "NaN or infinite");
        }
        yield return W("F64 value beyond fp32", EditTensors(t => { var x = t[Norm0].to_type(float64); x[0] = 1e300; t[Norm0].Dispose(); t[Norm0] = x; }), Norm0, "NaN or infinite");
        yield return W("F64 weights (fine)", EditTensors(t => { var x = t[Norm0].to_type(float64); t[Norm0].Dispose(); t[Norm0] = x; })) with { Loads = true };
        yield return W("BF16 weights (fine)", EditTensors(t => { var x = t[Embed].to_type(bfloat16); t[Embed].Dispose(); t[Embed] = x; })) with { Loads = true };

        yield return W("missing embedding", EditTensors(t => { t[Embed].Dispose(); t.Remove(Embed); }), Embed, "missing");
        yield return W("missing expert", EditTensors(t => { t[Expert].Dispose(); t.Remove(Expert); }), Expert, "missing");
        yield return W("missing final norm", EditTensors(t => { t[FinalNorm].Dispose(); t.Remove(FinalNorm); }), FinalNorm, "missing");
        yield return W("no tensors", EditTensors(t => { foreach (var x in t.Values) x.Dispose(); t.Clear(); }), "num_hidden_layers");
        yield return W("extra tensor", EditTensors(t => t["model.extra.weight"] = ones(3)), "model.extra.weight", "unexpected");
        yield return W("extra layer", EditTensors(t => t["model.layers.2.input_layernorm.weight"] = ones(32)), "num_hidden_layers");
        yield return W("layer 10^9", EditTensors(t => t["model.layers.999999999.input_layernorm.weight"] = ones(32)), "num_hidden_layers");
        yield return W("extra expert", EditTensors(t => t["model.layers.1.mlp.experts.4.gate_proj.weight"] = ones(16, 32)), "n_routed_experts");
        yield return W("experts in a dense layer", EditTensors(t => t["model.layers.0.mlp.experts.0.gate_proj.weight"] = ones(16, 32)), "n_routed_experts");
        yield return W("tensor of another shape", EditTensors(t => { t[Norm0].Dispose(); t[Norm0] = ones(3, 3); }), Norm0, "shape");
        yield return W("embedding of another width", EditTensors(t => { t[Embed] = ones(t[Embed].shape[0], 48); }), "hidden_size");
        yield return W("embedding of another vocabulary", EditTensors(t => { t[Embed] = ones(10, 32); }), "vocab_size");
        yield return W("integer tensor", EditTensors(t => { t[Norm0].Dispose(); t[Norm0] = ones(32, dtype: int32); }), Norm0, "floating-point");
        yield return W("bool tensor", EditTensors(t => { t[Norm0].Dispose(); t[Norm0] = ones(32, dtype: @bool); }), Norm0, "floating-point");
    }

    public static IEnumerable<HostileCase> TokenizerCases()
    {
        HostileCase T(string name, Action<string> corrupt, params string[] expect) => new($"tokenizer {name}", Tokenizer, corrupt, expect);
        Action<string> Model(Action<JsonObject> edit) => EditJson(Tokenizer, o => edit((JsonObject)o["model"]!));
        Action<string> Vocab(Action<JsonObject> edit) => Model(m => edit((JsonObject)m["vocab"]!));

        yield return T("not JSON", WriteText(Tokenizer, "{ nope"), "not valid JSON");
        yield return T("an array", WriteText(Tokenizer, "[]"), "model");
        yield return T("empty object", WriteText(Tokenizer, "{}"), "model");
        yield return T("deeply nested", WriteText(Tokenizer, new string('[', 100_000)), "not valid JSON");
        yield return T("invalid UTF-8", WriteBytes(Tokenizer, [0x7B, 0x22, 0xFF, 0xFE, 0x22, 0x3A, 0x31, 0x7D]), "UTF-8");
        yield return T("65 MiB", Grow(Tokenizer, 65L << 20), "bytes, more than");
        yield return T("model a string", SetJson(Tokenizer, "model", "\"BPE\""), "model");
        yield return T("model.type a number", Model(m => m["type"] = 5), "model.type");
        yield return T("model.type WordPiece", Model(m => m["type"] = "WordPiece"), "model.type");
        yield return T("vocab an array", Model(m => m["vocab"] = new JsonArray()), "model.vocab");
        yield return T("vocab missing", Model(m => m.Remove("vocab")), "model.vocab");
        yield return T("vocab id a string", Vocab(v => v["a"] = "x"), "non-integer id");
        yield return T("vocab id a fraction", Vocab(v => v["a"] = 1.5), "non-integer id");
        yield return T("vocab id 2*10^9", Vocab(v => v["a"] = 2_000_000_000), "2000000000");
        yield return T("vocab id 10^12", Vocab(v => v["a"] = 1_000_000_000_000), "non-integer id");
        yield return T("vocab id -1", Vocab(v => v["a"] = -1), "-1");
        yield return T("vocab id repeated", Vocab(v => v["a"] = v["b"]!.GetValue<int>()), "used by both");
        yield return T("vocab lacks a byte", Vocab(v => v.Remove("a")));
        yield return T("merges missing", Model(m => m.Remove("merges")), "merges");
        yield return T("merges an object", Model(m => m["merges"] = new JsonObject()), "merges");
        yield return T("merge a number", Model(m => ((JsonArray)m["merges"]!).Insert(0, 5)), "merge 0");
        yield return T("merge without a space", Model(m => ((JsonArray)m["merges"]!).Insert(0, "ab")), "merge 0");
        yield return T("merge of unknown parts", Model(m => ((JsonArray)m["merges"]!).Insert(0, "\u4e00 \u4e01")), "merge 0");
        yield return T("added token id a string", EditJson(Tokenizer, o => o["added_tokens"]![0]!["id"] = "x"), "added_tokens");
        yield return T("added token content empty", EditJson(Tokenizer, o => o["added_tokens"]![0]!["content"] = ""), "added_tokens");
        yield return T("added token content a number", EditJson(Tokenizer, o => o["added_tokens"]![0]!["content"] = 7), "added_tokens");
        yield return T("added tokens missing", EditJson(Tokenizer, o => o.Remove("added_tokens")), "special token");
    }

    /// <summary>Each file replaced by something that is not a regular file, or by a link to a good copy (which must load).</summary>
    public static IEnumerable<HostileCase> FileKindCases()
    {
        (string Kind, string Expect)[] kinds =
        [
            ("fifo", "FIFO"), ("symlink to a fifo", "FIFO"), ("dangling symlink", "does not exist"), ("looping symlink", "loops"), ("self symlink", "loops"),
            ("symlink to /dev/zero", "character device"), ("symlink to /dev/null", "character device"), ("directory", "directory"), ("missing", "not found"),
        ];
        foreach (var file in new[] { Config, Weights, Tokenizer })
        {
            foreach (var (kind, expect) in kinds)
                yield return new($"{file} {kind}", file, Replace(file, kind), [expect]);
            yield return new($"{file} symlink to a good copy", file, LinkToCopy(file, relative: false), [], Loads: true);
            yield return new($"{file} relative symlink to a good copy", file, LinkToCopy(file, relative: true), [], Loads: true);
        }
    }
}
