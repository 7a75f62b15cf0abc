using SeekSharp.Checkpoints;
using SeekSharp.Modeling;

namespace SeekSharp.Compression;

// `seek quantize`: a full-precision model folder in, a quantized one out (docs/decisions/0015). The model is loaded
// in fp32, each projection weight the rule allows is quantized in place (its master released as it goes), and the
// folder is written by ModelFiles.Save like any other, into a temporary name renamed into place at the end: a failed
// run leaves --out as it was.

/// <summary>Bytes of one kind of tensor before and after.</summary>
public sealed record QuantizedKind(string Kind, int Tensors, int Quantized, long BytesBefore, long BytesAfter);

/// <summary>What <see cref="Quantizer.Run"/> wrote.</summary>
public sealed record QuantizeResult(string OutDir, QuantType Type, IReadOnlyList<QuantizedKind> Kinds, IReadOnlyList<string> KeptReasons)
{
    public long BytesBefore => Kinds.Sum(k => k.BytesBefore);
    public long BytesAfter => Kinds.Sum(k => k.BytesAfter);
}

/// <summary>Writes a quantized copy of a model folder.</summary>
public static class Quantizer
{
    /// <param name="maxShardBytes">The written weights past this size are Hugging Face shards with an index (decision 0027).</param>
    public static QuantizeResult Run(string modelDir, QuantType type, string outDir, long maxShardBytes = ModelFiles.DefaultMaxShardBytes)
    {
        if (Path.GetFullPath(modelDir).TrimEnd('/') == Path.GetFullPath(outDir).TrimEnd('/'))
            throw new SeekSharpException($"{outDir}: --out must differ from --model.");
        RefuseNonEmpty(outDir);
        using var model = ModelFiles.Load(modelDir);
        if (model.IsQuantized)
            throw new SeekSharpException($"{modelDir}: is already quantized ({QuantizedFolder.ConfigOf(model)!.Name}); quantize its full-precision parent instead.");
        var before = ModelWeights.OfFolder(modelDir).Entries.ToDictionary(e => e.Name, e => e.End - e.Begin);

        var kept = new SortedSet<string>(StringComparer.Ordinal);
        var quantized = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, module) in model.named_modules())
        {
            if (module is not Linear lin) continue;
            var key = name + ".weight";
            if (QuantizationRule.WhyKept(key, [lin.OutFeatures, lin.InFeatures], type) is { } why)
            {
                kept.Add($"{QuantizationRule.Label(QuantizationRule.KindOf(key))}: {why}");
                continue;
            }
            lin.SetQuantized(QuantizedWeight.Quantize(lin.weight, type));
            quantized.Add(key);
        }
        foreach (var (name, _) in model.named_parameters())
            if (!quantized.Contains(name) && QuantizationRule.WhyKept(name, [0, 0], type) is { } why && QuantizationRule.KindOf(name) != TensorKind.Other)
                kept.Add($"{QuantizationRule.Label(QuantizationRule.KindOf(name))}: {why}");
        if (quantized.Count == 0)
            throw new SeekSharpException($"{modelDir}: no weight of this model can be stored as {QuantizationConfig.NameOf(type)} (every projection's in features must be a multiple of {QuantizationConfig.GroupSize}).");

        var tmp = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(outDir))!, $".tmp-{Path.GetFileName(Path.GetFullPath(outDir))}-{Guid.NewGuid():N}");
        try
        {
            ModelFiles.Save(tmp, model, new Dictionary<string, string> { ["quantization"] = QuantizationConfig.NameOf(type) }, tokenizerFrom: modelDir, maxShardBytes: maxShardBytes);
            var after = ModelWeights.OfFolder(tmp).Entries;
            var kinds = Tally(before, after, quantized);
            if (Directory.Exists(outDir)) Directory.Delete(outDir); // empty, checked above
            Directory.Move(tmp, outDir);
            return new QuantizeResult(outDir, type, kinds, [.. kept]);
        }
        catch
        {
            try { if (Directory.Exists(tmp)) Directory.Delete(tmp, recursive: true); } catch (IOException) { }
            throw;
        }
    }

    static void RefuseNonEmpty(string outDir)
    {
        if (File.Exists(outDir)) throw new SeekSharpException($"{outDir}: --out is a file; expected a new (or empty) folder.");
        if (Directory.Exists(outDir) && Directory.EnumerateFileSystemEntries(outDir).Any())
            throw new SeekSharpException($"{outDir}: already exists and is not empty; choose another --out.");
    }

    static List<QuantizedKind> Tally(Dictionary<string, long> before, IEnumerable<SafetensorsEntry> after, HashSet<string> quantized)
    {
        var rows = new Dictionary<TensorKind, (int Tensors, int Quantized, long Before, long After)>();
        foreach (var (name, bytes) in before)
        {
            var kind = QuantizationRule.KindOf(name);
            var r = rows.GetValueOrDefault(kind);
            rows[kind] = (r.Tensors + 1, r.Quantized + (quantized.Contains(name) ? 1 : 0), r.Before + bytes, r.After);
        }
        foreach (var e in after)
        {
            var weight = e.Name.EndsWith(QuantizedFolder.ScaleSuffix, StringComparison.Ordinal) ? e.Name[..^QuantizedFolder.ScaleSuffix.Length] : e.Name;
            var kind = QuantizationRule.KindOf(weight);
            var r = rows.GetValueOrDefault(kind);
            rows[kind] = (r.Tensors, r.Quantized, r.Before, r.After + (e.End - e.Begin));
        }
        return rows.OrderBy(kv => kv.Key).Select(kv => new QuantizedKind(QuantizationRule.Label(kv.Key), kv.Value.Tensors, kv.Value.Quantized, kv.Value.Before, kv.Value.After)).ToList();
    }
}
