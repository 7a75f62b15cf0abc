using System.Text.Json.Nodes;

namespace SeekSharp.Compression;

// config.json's "quantization_config" (docs/decisions/0015). Two spellings, one per family:
//   q8_0 / q4_0: {"quant_method": "seeksharp", "format": "q8_0" | "q4_0", "group_size": 32}. Our own method name:
//                transformers has no loader for llama.cpp blocks inside safetensors, and claiming one of its names
//                (gptq, awq, bitsandbytes...) would make it misread the bytes instead of refusing the folder.
//   fp8:         DeepSeek-V3's own release, {"quant_method": "fp8", "fmt": "e4m3", "activation_scheme": "dynamic",
//                "weight_block_size": [128, 128]}, so such a folder loads here and ours loads where theirs does.
// Anything else is refused, naming the field: a folder we would misread is worse than one we cannot read.

/// <summary>The weight formats of a quantized model folder.</summary>
public enum QuantType
{
    /// <summary>llama.cpp Q8_0: 32 int8 values and one fp16 scale per block.</summary>
    Q8_0,
    /// <summary>llama.cpp Q4_0: 32 4-bit values and one fp16 scale per block.</summary>
    Q4_0,
    /// <summary>DeepSeek-V3 FP8: E4M3 values and one fp32 scale per 128x128 block.</summary>
    Fp8,
}

/// <summary>A folder's quantization_config, read and written.</summary>
public sealed record QuantizationConfig(QuantType Type)
{
    public const string Key = "quantization_config";
    public const string OurMethod = "seeksharp";
    public const int GroupSize = 32;

    /// <summary>The --type name: "q8_0", "q4_0" or "fp8".</summary>
    public string Name => NameOf(Type);

    public static string NameOf(QuantType type) => type switch { QuantType.Q8_0 => "q8_0", QuantType.Q4_0 => "q4_0", _ => "fp8" };

    /// <summary>Parses a --type value.</summary>
    public static QuantType ParseType(string name) => name switch
    {
        "q8_0" => QuantType.Q8_0,
        "q4_0" => QuantType.Q4_0,
        "fp8" => QuantType.Fp8,
        _ => throw new SeekSharpException($"--type must be q8_0, q4_0 or fp8, got '{name}'."),
    };

    public JsonObject ToJson() => Type == QuantType.Fp8
        ? new JsonObject
        {
            ["quant_method"] = "fp8", ["fmt"] = "e4m3", ["activation_scheme"] = "dynamic",
            ["weight_block_size"] = new JsonArray(Fp8E4M3.Block, Fp8E4M3.Block),
        }
        : new JsonObject { ["quant_method"] = OurMethod, ["format"] = Name, ["group_size"] = GroupSize };

    /// <summary>The quantization_config of a parsed config.json, or null when it has none.</summary>
    /// <param name="path">config.json, for the messages.</param>
    public static QuantizationConfig? Read(JsonObject config, string path)
    {
        if (!config.TryGetPropertyValue(Key, out var node) || node is null) return null;
        if (node is not JsonObject q) throw Field(path, Key, "must be an object");
        var method = String(q, "quant_method", path);
        switch (method)
        {
            case OurMethod:
            {
                var format = String(q, "format", path);
                var type = format switch
                {
                    "q8_0" => QuantType.Q8_0,
                    "q4_0" => QuantType.Q4_0,
                    _ => throw Field(path, $"{Key}.format", $"is \"{format}\"; expected \"q8_0\" or \"q4_0\""),
                };
                if (!q.TryGetPropertyValue("group_size", out var g) || g is not JsonValue gv || !gv.TryGetValue<int>(out var group) || group != GroupSize)
                    throw Field(path, $"{Key}.group_size", $"is {g?.ToJsonString() ?? "missing"}; expected {GroupSize} (llama.cpp's block of 32)");
                return new QuantizationConfig(type);
            }
            case "fp8":
            {
                if (q.TryGetPropertyValue("fmt", out var fmt) && fmt is not null && fmt.ToJsonString() != "\"e4m3\"")
                    throw Field(path, $"{Key}.fmt", $"is {fmt.ToJsonString()}; expected \"e4m3\" (the only FP8 format read here)");
                if (q.TryGetPropertyValue("activation_scheme", out var act) && act is not null && act.ToJsonString() != "\"dynamic\"")
                    throw Field(path, $"{Key}.activation_scheme", $"is {act.ToJsonString()}; expected \"dynamic\" (static activation scales are not supported)");
                if (!q.TryGetPropertyValue("weight_block_size", out var b) || b is not JsonArray arr || arr.Count != 2
                    || arr.Any(v => v is not JsonValue jv || !jv.TryGetValue<int>(out var size) || size != Fp8E4M3.Block))
                    throw Field(path, $"{Key}.weight_block_size", $"is {b?.ToJsonString() ?? "missing"}; expected [{Fp8E4M3.Block}, {Fp8E4M3.Block}] (DeepSeek-V3's blocks)");
                return new QuantizationConfig(QuantType.Fp8);
            }
            default:
                throw Field(path, $"{Key}.quant_method", $"is \"{method}\"; expected \"{OurMethod}\" (q8_0, q4_0) or \"fp8\"");
        }
    }

    static string String(JsonObject q, string field, string path)
    {
        if (!q.TryGetPropertyValue(field, out var v) || v is not JsonValue jv || !jv.TryGetValue<string>(out var s))
            throw Field(path, $"{Key}.{field}", $"is {v?.ToJsonString() ?? "missing"}; expected a string");
        return s;
    }

    static SeekSharpException Field(string path, string field, string what) => new($"{path}: field '{field}' {what}.");
}
