using System.Buffers.Binary;
using System.IO.MemoryMappedFiles;
using System.Text;
using static TorchSharp.torch;

namespace SeekSharp.Distillation;

// The teacher's top-k logits, computed once and read back every epoch (and by later runs on the same data), so
// the student's epochs never run the teacher. One little-endian file:
//   [0, 8)    magic "SEEKKD01"
//   [8, 12)   format version, int32 (1)
//   [12, 16)  k, int32
//   [16, 20)  τ the cache was made for, float32 (the values are raw logits; τ is applied by the loss, and kept
//             here so a cache is not reused under another τ by mistake)
//   [20, 24)  vocabulary size, int32
//   [24, 32)  positions N, int64
//   [32, 48)  teacher hash, 16 ASCII hex (SHA-256 of the teacher's model.safetensors + config.json)
//   [48, 64)  dataset hash, 16 ASCII hex (SHA-256 of the traces file)
//   [64, 80)  tokenizer hash, 16 ASCII (BpeTokenizer.Hash)
//   [80, 96)  zero
//   then N·k fp16 logits (position-major, descending within a position), then N·k int32 token ids.
// Positions are the loss positions of the encoded conversations, in file order, row-major (KdLoss). Written under
// a temporary name and renamed (AtomicFile), so a cache that exists is complete; read memory-mapped.

/// <summary>What a cache must have been made from; any difference is refused.</summary>
public sealed record TopKCacheKey(int K, float Tau, int Vocab, string TeacherHash, string DatasetHash, string TokenizerHash);

public sealed unsafe class TopKCache : IDisposable
{
    public const int HeaderBytes = 96;
    static readonly byte[] Magic = "SEEKKD01"u8.ToArray();
    const int Version = 1;

    readonly MemoryMappedFile map;
    readonly MemoryMappedViewAccessor view;
    readonly byte* basePtr;
    public string Path { get; }
    public TopKCacheKey Key { get; }
    public long Positions { get; }

    TopKCache(string path, TopKCacheKey key, long positions, MemoryMappedFile map, MemoryMappedViewAccessor view)
    {
        (Path, Key, Positions, this.map, this.view) = (path, key, positions, map, view);
        byte* p = null;
        view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
        basePtr = p;
    }

    public static long FileBytes(long positions, int k) => HeaderBytes + positions * k * (2L + 4L);

    /// <summary>Writes a cache of <paramref name="positions"/> rows; <paramref name="fill"/> is called once per row in order with
    /// the row's k values and ids to fill.</summary>
    public static void Write(string path, TopKCacheKey key, long positions, Action<long, Span<Half>, Span<int>> fill)
    {
        SeekSharp.IO.AtomicFile.Write(path, s =>
        {
            var header = new byte[HeaderBytes];
            Magic.CopyTo(header, 0);
            BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(8), Version);
            BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(12), key.K);
            BinaryPrimitives.WriteSingleLittleEndian(header.AsSpan(16), key.Tau);
            BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(20), key.Vocab);
            BinaryPrimitives.WriteInt64LittleEndian(header.AsSpan(24), positions);
            Ascii(key.TeacherHash, header.AsSpan(32, 16));
            Ascii(key.DatasetHash, header.AsSpan(48, 16));
            Ascii(key.TokenizerHash, header.AsSpan(64, 16));
            s.Write(header);
            var values = new Half[positions * key.K];
            var ids = new int[positions * key.K];
            for (long r = 0; r < positions; r++) fill(r, values.AsSpan((int)(r * key.K), key.K), ids.AsSpan((int)(r * key.K), key.K));
            var bytes = new byte[Math.Max(values.Length * 2, ids.Length * 4)];
            for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteHalfLittleEndian(bytes.AsSpan(i * 2), values[i]);
            s.Write(bytes, 0, values.Length * 2);
            for (int i = 0; i < ids.Length; i++) BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(i * 4), ids[i]);
            s.Write(bytes, 0, ids.Length * 4);
        });
    }

    static void Ascii(string s, Span<byte> into)
    {
        if (s.Length is < 1 or > 16 || s.Any(c => c is < '!' or > '~')) throw new ArgumentException($"hash '{s}' must be 1 to 16 printable ASCII characters");
        into.Clear();
        Encoding.ASCII.GetBytes(s, into);
    }

    static string ReadAscii(ReadOnlySpan<byte> b) => Encoding.ASCII.GetString(b.TrimEnd((byte)0));

    /// <summary>Opens a cache made for <paramref name="expected"/>; any other header is one error naming the file and the field.</summary>
    public static TopKCache Open(string path, TopKCacheKey expected)
    {
        if (!File.Exists(path)) throw new SeekSharpException($"{path}: teacher cache not found.");
        var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        try
        {
            Span<byte> h = stackalloc byte[HeaderBytes];
            if (fs.Length < HeaderBytes) throw new SeekSharpException($"{path}: {fs.Length} bytes, too short for the {HeaderBytes}-byte teacher cache header.");
            fs.ReadExactly(h);
            if (!h[..8].SequenceEqual(Magic)) throw new SeekSharpException($"{path}: not a teacher cache (magic is not SEEKKD01).");
            int version = BinaryPrimitives.ReadInt32LittleEndian(h[8..]);
            if (version != Version) throw new SeekSharpException($"{path}: teacher cache version {version}; expected {Version}.");
            var key = new TopKCacheKey(BinaryPrimitives.ReadInt32LittleEndian(h[12..]), BinaryPrimitives.ReadSingleLittleEndian(h[16..]),
                BinaryPrimitives.ReadInt32LittleEndian(h[20..]), ReadAscii(h.Slice(32, 16)), ReadAscii(h.Slice(48, 16)), ReadAscii(h.Slice(64, 16)));
            long positions = BinaryPrimitives.ReadInt64LittleEndian(h[24..]);
            void Same<T>(string field, T got, T want)
            {
                if (!EqualityComparer<T>.Default.Equals(got, want))
                    throw new SeekSharpException($"{path}: header {field} is {got} but this run needs {want}; the cache was made for another teacher, data or settings (delete it to rebuild).");
            }
            Same("k", key.K, expected.K);
            Same("tau", key.Tau, expected.Tau);
            Same("vocab", key.Vocab, expected.Vocab);
            Same("teacher hash", key.TeacherHash, expected.TeacherHash);
            Same("dataset hash", key.DatasetHash, expected.DatasetHash);
            Same("tokenizer hash", key.TokenizerHash, expected.TokenizerHash);
            if (key.K < 1 || positions < 0 || positions > (fs.Length - HeaderBytes) / (6L * key.K) || FileBytes(positions, key.K) != fs.Length)
                throw new SeekSharpException($"{path}: header says {positions} positions of k {key.K}, which is not the file's {fs.Length} bytes (truncated or corrupt).");
            var map = MemoryMappedFile.CreateFromFile(fs, null, 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: false);
            return new TopKCache(path, key, positions, map, map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read));
        }
        catch
        {
            fs.Dispose();
            throw;
        }
    }

    /// <summary>The rows of <paramref name="positions"/> as (N, k) fp32 values and (N, k) int64 ids.</summary>
    public (Tensor Values, Tensor Ids) Rows(IReadOnlyList<long> positions)
    {
        int k = Key.K;
        var values = new float[positions.Count * k];
        var ids = new long[positions.Count * k];
        var vals = (Half*)(basePtr + HeaderBytes);
        var idp = (int*)(basePtr + HeaderBytes + Positions * k * 2);
        for (int r = 0; r < positions.Count; r++)
        {
            long at = positions[r];
            if ((ulong)at >= (ulong)Positions) throw new ArgumentOutOfRangeException(nameof(positions), at, $"position outside [0, {Positions}) of {Path}");
            for (int j = 0; j < k; j++)
            {
                values[r * k + j] = (float)vals[at * k + j];
                ids[r * k + j] = idp[at * k + j];
            }
        }
        return (tensor(values, [positions.Count, k]), tensor(ids, [positions.Count, k]));
    }

    public void Dispose()
    {
        view.SafeMemoryMappedViewHandle.ReleasePointer();
        view.Dispose();
        map.Dispose();
    }
}
