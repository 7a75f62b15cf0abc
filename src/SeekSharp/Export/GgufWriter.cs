using System.Buffers.Binary;
using System.Text;
using SeekSharp.IO;

namespace SeekSharp.Export;

// GGUF version 3, llama.cpp's single-file model format, all little-endian:
//   header      "GGUF" (u32 0x46554747), version u32 = 3, tensor count u64, metadata count u64
//   metadata    key (string), value type (u32), value; a string is a u64 byte length then UTF-8 bytes
//               (no terminator); an array is element type (u32), count (u64), then the elements
//   tensor info name (string), n_dims (u32), dims (u64 each, innermost first: ggml's ne[0] is the
//               contiguous one, so a row-major (rows, cols) matrix is written [cols, rows]), ggml type
//               (u32), offset (u64, from the start of the data section, a multiple of the alignment)
//   padding     zeros up to general.alignment (32 unless that key says otherwise; we keep 32)
//   data        each tensor's bytes, each padded with zeros to the alignment
// Value types and the ggml type numbers are llama.cpp's (gguf-py/gguf/constants.py).

/// <summary>Builds a GGUF file in memory, then writes it atomically (temporary name, then rename).</summary>
public sealed class GgufWriter
{
    public const uint Magic = 0x46554747, Version = 3;
    public const int Alignment = 32;

    /// <summary>ggml tensor types this writer produces (ggml_type numbers).</summary>
    public enum TensorType : uint { F32 = 0, F16 = 1, Q4_0 = 2, Q8_0 = 8 }

    /// <summary>Bytes of <paramref name="elements"/> values of <paramref name="type"/>; a block type needs rows of whole
    /// 32-value blocks (the innermost dimension a multiple of 32).</summary>
    public static long BytesOf(TensorType type, long elements) => type switch
    {
        TensorType.F32 => elements * 4,
        TensorType.F16 => elements * 2,
        TensorType.Q8_0 => elements / 32 * 34,
        TensorType.Q4_0 => elements / 32 * 18,
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, null),
    };

    enum ValueType : uint { UInt32 = 4, Int32 = 5, Float32 = 6, Bool = 7, String = 8, Array = 9 }

    readonly List<(string Key, Action<BinaryWriter> Write)> metadata = [];
    readonly List<(string Name, long[] Dims, TensorType Type, byte[] Data)> tensors = [];
    readonly HashSet<string> keys = new(StringComparer.Ordinal), names = new(StringComparer.Ordinal);

    public int TensorCount => tensors.Count;
    public long DataBytes => tensors.Sum(t => (long)t.Data.Length);

    void Add(string key, ValueType type, Action<BinaryWriter> value)
    {
        if (!keys.Add(key)) throw new ArgumentException($"metadata key '{key}' added twice.", nameof(key));
        metadata.Add((key, w => { WriteString(w, key); w.Write((uint)type); value(w); }));
    }

    public void AddUInt32(string key, uint value) => Add(key, ValueType.UInt32, w => w.Write(value));
    public void AddFloat32(string key, float value) => Add(key, ValueType.Float32, w => w.Write(value));
    public void AddBool(string key, bool value) => Add(key, ValueType.Bool, w => w.Write((byte)(value ? 1 : 0)));
    public void AddString(string key, string value) => Add(key, ValueType.String, w => WriteString(w, value));

    public void AddStrings(string key, IReadOnlyList<string> values) => Add(key, ValueType.Array, w =>
    {
        w.Write((uint)ValueType.String);
        w.Write((ulong)values.Count);
        foreach (var v in values) WriteString(w, v);
    });

    public void AddInt32s(string key, IReadOnlyList<int> values) => Add(key, ValueType.Array, w =>
    {
        w.Write((uint)ValueType.Int32);
        w.Write((ulong)values.Count);
        foreach (var v in values) w.Write(v);
    });

    /// <summary>Adds a tensor of row-major shape <paramref name="shape"/> (PyTorch order, outermost first).</summary>
    public void AddTensor(string name, long[] shape, TensorType type, byte[] data)
    {
        if (!names.Add(name)) throw new ArgumentException($"tensor '{name}' added twice.", nameof(name));
        long elements = shape.Aggregate(1L, (a, b) => a * b);
        if (type is TensorType.Q8_0 or TensorType.Q4_0 && (shape.Length == 0 || shape[^1] % 32 != 0))
            throw new ArgumentException($"tensor '{name}': {type} needs rows of whole 32-value blocks, shape [{string.Join(",", shape)}].", nameof(shape));
        long expected = BytesOf(type, elements);
        if (data.Length != expected) throw new ArgumentException($"tensor '{name}': {data.Length} bytes for {elements} elements of {type}.", nameof(data));
        tensors.Add((name, shape.Reverse().ToArray(), type, data));
    }

    static void WriteString(BinaryWriter w, string s)
    {
        var bytes = Encoding.UTF8.GetBytes(s);
        w.Write((ulong)bytes.Length);
        w.Write(bytes);
    }

    static long Padded(long n) => (n + Alignment - 1) / Alignment * Alignment;

    /// <summary>Writes the file to <paramref name="path"/>; a failure leaves whatever was there untouched.</summary>
    public void Write(string path) => AtomicFile.Write(path, stream =>
    {
        // BinaryWriter is little-endian on every platform, as GGUF is.
        using var w = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true);
        w.Write(Magic);
        w.Write(Version);
        w.Write((ulong)tensors.Count);
        w.Write((ulong)metadata.Count);
        foreach (var (_, write) in metadata) write(w);
        long offset = 0;
        foreach (var (name, dims, type, data) in tensors)
        {
            WriteString(w, name);
            w.Write((uint)dims.Length);
            foreach (var d in dims) w.Write((ulong)d);
            w.Write((uint)type);
            w.Write((ulong)offset);
            offset = Padded(offset + data.Length);
        }
        w.Flush();
        Pad(stream);
        foreach (var (_, _, _, data) in tensors)
        {
            stream.Write(data);
            Pad(stream);
        }
    });

    static void Pad(Stream s)
    {
        long pad = Padded(s.Position) - s.Position;
        for (long i = 0; i < pad; i++) s.WriteByte(0);
    }

    /// <summary>Little-endian bytes of fp32 values (the F32 layout).</summary>
    public static byte[] F32Bytes(ReadOnlySpan<float> values)
    {
        var bytes = new byte[values.Length * 4];
        for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), values[i]);
        return bytes;
    }

    /// <summary>Little-endian IEEE half bytes of fp32 values, rounded to nearest even (the F16 layout).</summary>
    public static byte[] F16Bytes(ReadOnlySpan<float> values)
    {
        var bytes = new byte[values.Length * 2];
        for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteHalfLittleEndian(bytes.AsSpan(i * 2), (Half)values[i]);
        return bytes;
    }
}
