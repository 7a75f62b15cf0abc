using System.Text.Json.Nodes;
using SeekSharp.Checkpoints;
using SeekSharp.IO;
using SeekSharp.Modeling;
using static TorchSharp.torch;

namespace SeekSharp.Compression;

// Reading and writing the quantized tensors of a model folder (docs/decisions/0015); ModelFiles calls in here for
// the parts that differ from a full-precision folder. In model.safetensors:
//   q8_0 / q4_0: "X.weight" U8 [N, (K/32)·B], llama.cpp's blocks.
//   fp8:         "X.weight" F8_E4M3 [N, K] and "X.weight_scale_inv" F32 [ceil(N/128), ceil(K/128)] (DeepSeek-V3).
// Every quantized tensor is checked against the Linear it fills (format, shape, byte length, scales) before it is
// read, and each is read straight into the Linear's storage: the model never holds its fp32 size.

/// <summary>The quantized half of <see cref="ModelFiles"/>.</summary>
internal static class QuantizedFolder
{
    public const string ScaleSuffix = "_scale_inv";

    /// <summary>The folder's quantization_config (null for a full-precision folder); errors name config.json and the field.</summary>
    public static QuantizationConfig? ReadConfig(string cfgPath)
    {
        var bytes = CheckedFile.ReadAllBytes(cfgPath, "model config not found.", CheckedFile.MaxConfigBytes);
        return JsonNode.Parse(bytes) is JsonObject obj ? QuantizationConfig.Read(obj, cfgPath) : null; // ModelConfig.Load has checked the JSON
    }

    static bool IsQuantizedDType(string dtype) => dtype is "U8" or SafetensorsDType.Fp8E4M3;

    /// <summary>A full-precision config beside quantized tensors: the bytes cannot be read without knowing their format.</summary>
    public static void RefuseWithoutConfig(ModelWeights file, string cfgPath)
    {
        if (file.Entries.FirstOrDefault(e => IsQuantizedDType(e.DType)) is { } e)
            throw new SeekSharpException($"{file.PathOf(e.Name)}: tensor '{e.Name}' is {e.DType} (quantized), but {cfgPath} has no '{QuantizationConfig.Key}' saying its format.");
    }

    /// <summary>Fills every Linear whose weight the file stores quantized; returns the tensor names it consumed.</summary>
    public static HashSet<string> Load(Transformer model, ModelWeights file, QuantizationConfig quant)
    {
        var path = file.Path;
        var byName = file.Entries.ToDictionary(e => e.Name, StringComparer.Ordinal);
        var stored = quant.Type == QuantType.Fp8 ? SafetensorsDType.Fp8E4M3 : "U8";
        var plan = new List<(Linear Linear, SafetensorsEntry Weight, SafetensorsEntry? Scale)>();
        foreach (var (name, module) in model.named_modules())
        {
            if (module is not Linear lin || !byName.TryGetValue(name + ".weight", out var e)) continue;
            if (!IsQuantizedDType(e.DType)) continue;                    // a weight kept in full precision: ModelFiles reads it
            string Where() => $"{path}: tensor '{e.Name}'";
            if (e.DType != stored)
                throw new SeekSharpException($"{Where()} is {e.DType}, but quantization_config says {quant.Name} (stored as {stored}).");
            long n = lin.OutFeatures, k = lin.InFeatures;
            if (quant.Type != QuantType.Fp8 && k % QuantizationConfig.GroupSize != 0)
                throw new SeekSharpException($"{Where()}: its {k} in features are not a multiple of the {QuantizationConfig.GroupSize}-wide {quant.Name} block.");
            long[] want = [n, QuantizedWeight.RowBytes(quant.Type, k)];
            if (!e.Shape.SequenceEqual(want))
                throw new SeekSharpException($"{Where()} has shape {e.ShapeText} ({e.End - e.Begin} bytes), expected [{want[0]}, {want[1]}] ({want[0] * want[1]} bytes) "
                    + $"for {quant.Name} of a {n}x{k} weight; the tensor is truncated or of another format.");
            SafetensorsEntry? scale = null;
            if (quant.Type == QuantType.Fp8)
            {
                if (!byName.TryGetValue(e.Name + ScaleSuffix, out scale))
                    throw new SeekSharpException($"{path}: missing tensor '{e.Name}{ScaleSuffix}' (the fp8 block scales of '{e.Name}').");
                var shape = Fp8E4M3.ScaleShape(n, k);
                if (scale.DType != "F32" || !scale.Shape.SequenceEqual(shape))
                    throw new SeekSharpException($"{path}: tensor '{scale.Name}' is {scale.DType} {scale.ShapeText}, expected F32 [{shape[0]}, {shape[1]}] "
                        + $"(one scale per {Fp8E4M3.Block}x{Fp8E4M3.Block} block of the {n}x{k} weight).");
            }
            plan.Add((lin, e, scale));
        }
        var consumed = new HashSet<string>(StringComparer.Ordinal);
        using var reader = file.Open();
        using var _ = no_grad();
        foreach (var (lin, e, s) in plan)
        {
            var data = reader.Read(e);
            var scale = s is null ? null : reader.Read(s);
            var q = new QuantizedWeight(quant.Type, lin.OutFeatures, lin.InFeatures, data, scale);
            if (!Finite(q)) { q.Dispose(); throw new SeekSharpException($"{path}: tensor '{e.Name}' decodes to NaN or infinite values; the weights are corrupt."); }
            lin.SetQuantized(q);
            consumed.Add(e.Name);
            if (s is not null) consumed.Add(s.Name);
        }
        return consumed;
    }

    // Decoded one weight at a time (the load's transient memory is one fp32 weight), as the full-precision loader checks.
    static bool Finite(QuantizedWeight q)
    {
        using var scope = NewDisposeScope();
        if (q.ScaleInv is not null && !Native.Finite.All(q.ScaleInv)) return false;
        using (var w = q.Dequantize(ScalarType.Float32)) return Native.Finite.All(w);
    }

    /// <summary>The tensors a quantized model saves: the state dict without the released masters, plus each quantized
    /// weight's stored bytes (and fp8 scales); the dtype names to write for the fp8 codes.</summary>
    public static (Dictionary<string, Tensor> Tensors, Dictionary<string, string> DTypes) Tensors(Transformer model)
    {
        var tensors = model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);
        var dtypes = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (name, module) in model.named_modules())
        {
            if (module is not Linear { Quantized: { } q }) continue;
            tensors[name + ".weight"] = q.Data;
            if (q.ScaleInv is null) continue;
            dtypes[name + ".weight"] = SafetensorsDType.Fp8E4M3;
            tensors[name + ".weight" + ScaleSuffix] = q.ScaleInv;
        }
        return (tensors, dtypes);
    }

    /// <summary>The format of a quantized model's Linears (one per model), or null.</summary>
    public static QuantizationConfig? ConfigOf(Transformer model) =>
        model.modules().OfType<Linear>().FirstOrDefault(l => l.Quantized is not null)?.Quantized is { } q ? new QuantizationConfig(q.Type) : null;
}
