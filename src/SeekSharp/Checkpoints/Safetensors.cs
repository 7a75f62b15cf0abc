using System.Buffers.Binary;
using System.Text.Encodings.Web;
using System.Text.Json;
using SeekSharp.IO;
using TorchSharp;
using static TorchSharp.torch;

namespace SeekSharp.Checkpoints;

/// <summary>
/// Reader and writer for the Hugging Face safetensors format: an 8-byte little-endian header length,
/// a UTF-8 JSON header padded with spaces to 8-byte alignment, then one flat data buffer.
/// </summary>
/// <remarks>
/// Design: our own implementation keeps checkpoints readable by the Python ecosystem without a
/// pickle dependency. Saves are atomic (AtomicFile) and every input is checked before the first byte
/// is written, so a failed save never damages an existing checkpoint. Loads validate the whole
/// header first (see <see cref="SafetensorsHeader"/>) and stream each tensor straight into its
/// libtorch storage, which also works for tensors larger than 2 GB.
/// </remarks>
public static class Safetensors
{
    private const int CopyBufferBytes = 1 << 20;

    public static void Save(string path, IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string>? metadata = null) =>
        Save(path, tensors, metadata, null);

    /// <param name="dtypeNames">Per tensor, a dtype name to write instead of the one its storage type maps to (of the same
    /// element size): "F8_E4M3" for FP8 weights held as bytes.</param>
    internal static void Save(string path, IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string>? metadata,
        IReadOnlyDictionary<string, string>? dtypeNames)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        // Ordinal sort: the same dictionary always produces byte-identical files.
        var names = tensors.Keys.OrderBy(k => k, StringComparer.Ordinal).ToList();
        var header = BuildHeader(path, names, tensors, metadata, dtypeNames);

        AtomicFile.Write(path, stream =>
        {
            Span<byte> len = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)header.Length);
            stream.Write(len);
            stream.Write(header);
            foreach (var name in names)
                WriteTensorBytes(tensors[name], stream);
        });
    }

    public static Dictionary<string, Tensor> Load(string path) => LoadWithMetadata(path).Tensors;

    public static (Dictionary<string, Tensor> Tensors, Dictionary<string, string> Metadata) LoadWithMetadata(string path)
    {
        var file = ReadHeader(path);
        using var fs = OpenData(path);
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        try
        {
            foreach (var e in file.Entries) result.Add(e.Name, ReadTensor(fs, file, e));
        }
        catch
        {
            foreach (var t in result.Values) t.Dispose();
            throw;
        }
        return (result, file.Metadata);
    }

    /// <summary>Reads and validates the header alone: names, dtypes, shapes and offsets, nothing allocated
    /// beyond the header itself, so a caller can compare it with what it expects before loading any tensor.</summary>
    internal static SafetensorsFile ReadHeader(string path)
    {
        var fileLength = CheckedFile.Check(path, "safetensors file not found.");
        using var fs = OpenData(path);
        if (fileLength < 8)
            throw new SeekSharpException($"{path}: file is {fileLength} bytes, too short for the 8-byte safetensors header length.");

        Span<byte> lenBytes = stackalloc byte[8];
        fs.ReadExactly(lenBytes);
        var headerLength = BinaryPrimitives.ReadUInt64LittleEndian(lenBytes);
        if (headerLength > SafetensorsHeader.MaxHeaderBytes)
            throw new SeekSharpException($"{path}: header length {headerLength} is absurd (limit {SafetensorsHeader.MaxHeaderBytes} bytes); not a safetensors file?");
        if ((long)headerLength > fileLength - 8)
            throw new SeekSharpException($"{path}: header length {headerLength} is larger than the {fileLength - 8} bytes that follow it; the file is truncated or not safetensors.");

        var headerBytes = new byte[headerLength];
        fs.ReadExactly(headerBytes);
        var dataStart = 8 + (long)headerLength;
        var (entries, metadata) = SafetensorsHeader.Parse(path, headerBytes, fileLength - dataStart);
        return new SafetensorsFile(path, entries, metadata, dataStart, fileLength);
    }

    internal static FileStream OpenData(string path) =>
        new(path, FileMode.Open, FileAccess.Read, FileShare.Read, CopyBufferBytes);

    /// <summary>One tensor of <paramref name="file"/>, read from <paramref name="fs"/> (opened with <see cref="OpenData"/>).</summary>
    internal static Tensor ReadTensor(FileStream fs, SafetensorsFile file, SafetensorsEntry e)
    {
        // The file may have been swapped or cut since its header was read: never read past what was checked.
        if (fs.Length != file.FileLength)
            throw new SeekSharpException($"{file.Path}: changed size from {file.FileLength} to {fs.Length} bytes while being read.");
        var t = empty(e.Shape, dtype: e.Type);
        try
        {
            if (e.End == e.Begin) return t;
            fs.Position = file.DataStart + e.Begin;
            t.ReadBytesFromStream(fs, CopyBufferBytes);
            return t;
        }
        catch (EndOfStreamException x)
        {
            t.Dispose();
            throw new SeekSharpException($"{file.Path}: ended inside tensor '{e.Name}'; the file is truncated.", x);
        }
        catch { t.Dispose(); throw; }
    }

    private static byte[] BuildHeader(string path, List<string> names, IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string>? metadata,
        IReadOnlyDictionary<string, string>? dtypeNames)
    {
        using var ms = new MemoryStream();
        // Relaxed escaping writes names as plain UTF-8, like the reference writer; the header is never HTML.
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                w.WriteStartObject(SafetensorsHeader.MetadataKey);
                foreach (var kv in metadata.OrderBy(kv => kv.Key, StringComparer.Ordinal))
                    w.WriteString(kv.Key, kv.Value);
                w.WriteEndObject();
            }

            long offset = 0;
            foreach (var name in names)
            {
                var t = tensors[name];
                if (name == SafetensorsHeader.MetadataKey)
                    throw new SeekSharpException($"{path}: a tensor may not be named '{SafetensorsHeader.MetadataKey}'; the format reserves that key.");
                if (t is null)
                    throw new SeekSharpException($"{path}: tensor '{name}' is null.");
                if (!SafetensorsDType.TryFromType(t.dtype, out var dtypeName, out var elemSize))
                    throw new SeekSharpException($"{path}: tensor '{name}' has dtype {t.dtype}, which safetensors saving does not support; expected one of {SafetensorsDType.Names}.");
                if (dtypeNames is not null && dtypeNames.TryGetValue(name, out var renamed))
                {
                    if (!SafetensorsDType.TryFromName(renamed, out _, out var renamedSize) || renamedSize != elemSize)
                        throw new ArgumentException($"tensor '{name}': dtype {renamed} does not fit its {t.dtype} storage", nameof(dtypeNames));
                    dtypeName = renamed;
                }

                var bytes = t.numel() * elemSize;
                w.WriteStartObject(name);
                w.WriteString("dtype", dtypeName);
                w.WriteStartArray("shape");
                foreach (var d in t.shape) w.WriteNumberValue(d);
                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(offset);
                w.WriteNumberValue(offset + bytes);
                w.WriteEndArray();
                w.WriteEndObject();
                offset += bytes;
            }
            w.WriteEndObject();
        }

        // Pad with spaces so the data buffer starts 8-byte aligned, which lets readers map it directly.
        var json = ms.ToArray();
        var padded = (json.Length + 7) / 8 * 8;
        var header = new byte[padded];
        json.CopyTo(header, 0);
        header.AsSpan(json.Length).Fill((byte)' ');
        return header;
    }

    private static void WriteTensorBytes(Tensor t, Stream stream)
    {
        if (t.numel() == 0) return;
        using var scope = NewDisposeScope();
        // detach: the bytes are all we need; cpu + contiguous: the file is dense row-major host memory.
        var host = t.detach().cpu().contiguous();
        host.WriteBytesToStream(stream, CopyBufferBytes);
    }
}
