using System.Text.Json;
using TorchSharp;

namespace SeekSharp.Checkpoints;

// Design: the header is parsed and fully validated before a single tensor is allocated, so a
// corrupt or hostile file fails fast with a message naming the file and the tensor, instead of
// surfacing later as a native libtorch error or a silently wrong weight.
internal sealed record SafetensorsEntry(string Name, torch.ScalarType Type, int ElementSize, long[] Shape, long Begin, long End, string DType = "")
{
    public long Elements => ElementSize == 0 ? 0 : (End - Begin) / ElementSize;
    public string ShapeText => $"[{string.Join(", ", Shape)}]";
}

/// <summary>A validated header: where each tensor's bytes are, and the file it was read from.</summary>
internal sealed record SafetensorsFile(string Path, List<SafetensorsEntry> Entries, Dictionary<string, string> Metadata, long DataStart, long FileLength);

internal static class SafetensorsHeader
{
    public const string MetadataKey = "__metadata__";

    // The reference implementation caps the header at 100 MB; anything larger is a corrupt length.
    public const long MaxHeaderBytes = 100_000_000;

    // libtorch tensors have few dimensions; a header with thousands is crafted, not saved.
    public const int MaxRank = 16;

    public static (List<SafetensorsEntry> Entries, Dictionary<string, string> Metadata) Parse(
        string path, ReadOnlySpan<byte> json, long dataLength)
    {
        // JsonDocument checks UTF-8 only where a string is read; a broken tensor name must fail here, named.
        if (!System.Text.Unicode.Utf8.IsValid(json))
            throw new SeekSharpException($"{path}: the safetensors header is not valid UTF-8 text.");
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json.ToArray());
        }
        catch (JsonException e)
        {
            throw new SeekSharpException($"{path}: the safetensors header is not valid JSON ({e.Message}).", e);
        }

        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw new SeekSharpException($"{path}: the safetensors header must be a JSON object, found {doc.RootElement.ValueKind}.");

            var entries = new List<SafetensorsEntry>();
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var prop in doc.RootElement.EnumerateObject())
            {
                // JSON allows repeated keys; for a checkpoint that would mean two tensors with one name.
                if (!seen.Add(prop.Name))
                    throw new SeekSharpException($"{path}: the header names '{prop.Name}' more than once.");
                if (prop.Name == MetadataKey)
                    ReadMetadata(path, prop.Value, metadata);
                else
                    entries.Add(ReadEntry(path, prop.Name, prop.Value, dataLength));
            }
            CheckCoverage(path, entries, dataLength);
            return (entries, metadata);
        }
    }

    private static void ReadMetadata(string path, JsonElement value, Dictionary<string, string> metadata)
    {
        if (value.ValueKind != JsonValueKind.Object)
            throw new SeekSharpException($"{path}: '{MetadataKey}' must be an object of string to string, found {value.ValueKind}.");
        foreach (var kv in value.EnumerateObject())
        {
            if (kv.Value.ValueKind != JsonValueKind.String)
                throw new SeekSharpException($"{path}: '{MetadataKey}.{kv.Name}' must be a string, found {kv.Value.ValueKind}.");
            metadata[kv.Name] = kv.Value.GetString()!;
        }
    }

    private static SafetensorsEntry ReadEntry(string path, string name, JsonElement value, long dataLength)
    {
        string Where() => $"{path}: tensor '{name}'";
        if (value.ValueKind != JsonValueKind.Object)
            throw new SeekSharpException($"{Where()} must be an object with dtype, shape and data_offsets, found {value.ValueKind}.");

        if (!value.TryGetProperty("dtype", out var dtypeEl) || dtypeEl.ValueKind != JsonValueKind.String)
            throw new SeekSharpException($"{Where()} is missing the string field 'dtype'.");
        var dtypeName = dtypeEl.GetString()!;
        if (!SafetensorsDType.TryFromName(dtypeName, out var type, out var elemSize))
            throw new SeekSharpException($"{Where()} has unknown dtype '{dtypeName}'; expected one of {SafetensorsDType.Names}.");

        if (!value.TryGetProperty("shape", out var shapeEl) || shapeEl.ValueKind != JsonValueKind.Array)
            throw new SeekSharpException($"{Where()} is missing the array field 'shape'.");
        if (shapeEl.GetArrayLength() > MaxRank)
            throw new SeekSharpException($"{Where()} has {shapeEl.GetArrayLength()} dimensions; at most {MaxRank} are supported.");
        var shape = new long[shapeEl.GetArrayLength()];
        var i = 0;
        foreach (var d in shapeEl.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out var n))
                throw new SeekSharpException($"{Where()} has a shape entry that is not an integer: {d.GetRawText()}.");
            if (n < 0)
                throw new SeekSharpException($"{Where()} has a negative dimension {n} in shape [{string.Join(", ", shapeEl.EnumerateArray())}].");
            shape[i++] = n;
        }

        if (!value.TryGetProperty("data_offsets", out var offEl) || offEl.ValueKind != JsonValueKind.Array)
            throw new SeekSharpException($"{Where()} is missing the array field 'data_offsets'.");
        long begin = -1, end = -1;
        if (offEl.GetArrayLength() != 2
            || offEl[0].ValueKind != JsonValueKind.Number || offEl[1].ValueKind != JsonValueKind.Number
            || !offEl[0].TryGetInt64(out begin) || !offEl[1].TryGetInt64(out end)
            || begin < 0 || end < 0)
            throw new SeekSharpException($"{Where()}: data_offsets must be two non-negative integers [begin, end], found {offEl.GetRawText()}.");
        if (end < begin)
            throw new SeekSharpException($"{Where()}: data_offsets end {end} is before begin {begin}.");
        if (end > dataLength)
            throw new SeekSharpException($"{Where()}: data_offsets [{begin}, {end}] run past the data buffer of {dataLength} bytes.");

        long expected;
        try
        {
            expected = elemSize;
            foreach (var d in shape) expected = checked(expected * d);
        }
        catch (OverflowException)
        {
            throw new SeekSharpException($"{Where()}: shape [{string.Join(", ", shape)}] is too large.");
        }
        if (end - begin != expected)
            throw new SeekSharpException(
                $"{Where()}: data_offsets cover {end - begin} bytes but {dtypeName} shape [{string.Join(", ", shape)}] needs {expected} bytes.");

        return new SafetensorsEntry(name, type, elemSize, shape, begin, end, dtypeName);
    }

    // The format requires the tensors to tile the data buffer exactly: a hole hides unaccounted
    // bytes and an overlap lets two tensors alias, both signs of a corrupt or crafted file.
    private static void CheckCoverage(string path, List<SafetensorsEntry> entries, long dataLength)
    {
        var sorted = entries.OrderBy(e => e.Begin).ThenBy(e => e.End).ToList();
        long cursor = 0;
        string previous = "the start of the data buffer";
        foreach (var e in sorted)
        {
            if (e.Begin > cursor)
                throw new SeekSharpException($"{path}: gap in the data buffer: bytes [{cursor}, {e.Begin}) between {previous} and tensor '{e.Name}' belong to no tensor.");
            if (e.Begin < cursor)
                throw new SeekSharpException($"{path}: tensor '{e.Name}' (bytes [{e.Begin}, {e.End})) overlaps {previous}, which ends at byte {cursor}.");
            cursor = e.End;
            previous = $"tensor '{e.Name}'";
        }
        if (cursor != dataLength)
            throw new SeekSharpException($"{path}: the data buffer has {dataLength} bytes but the tensors cover only {cursor}; the rest belongs to no tensor.");
    }
}
