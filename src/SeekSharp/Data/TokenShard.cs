using System.Buffers.Binary;
using System.IO.MemoryMappedFiles;

namespace SeekSharp.Data;

/// <summary>
/// A read-only, memory-mapped view of one token shard (see <see cref="TokenShardFormat"/> for the layout).
/// </summary>
/// <remarks>
/// Design: mapping lets the OS page cache hold the corpus, so random batch sampling costs no reads or
/// copies beyond the tokens touched, and many shards can be open at once. The header is validated
/// with a plain read before mapping, so every malformed file gets a message naming it.
/// Reads are thread-safe; Dispose is not concurrent with reads.
/// </remarks>
public sealed unsafe class TokenShard : IDisposable
{
    private readonly MemoryMappedFile? _map;
    private readonly MemoryMappedViewAccessor? _view;
    private byte* _tokens;
    private readonly int _elemSize;

    private TokenShard(string path, TokenDType dtype, long count, int vocabSize, string hash, MemoryMappedFile? map, MemoryMappedViewAccessor? view)
    {
        Path = path;
        DType = dtype;
        Count = count;
        VocabSize = vocabSize;
        TokenizerHash = hash;
        _elemSize = TokenShardFormat.ElementSize(dtype);
        _map = map;
        _view = view;
        if (view is not null)
        {
            byte* basePtr = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref basePtr);
            _tokens = basePtr + view.PointerOffset + TokenShardFormat.HeaderBytes;
        }
    }

    public string Path { get; }
    public long Count { get; }
    public int VocabSize { get; }
    public string TokenizerHash { get; }
    public TokenDType DType { get; }

    public static TokenShard Open(string path)
    {
        if (!File.Exists(path))
            throw new SeekSharpException($"{path}: token shard not found.");

        var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        try
        {
            var length = fs.Length;
            if (length < TokenShardFormat.HeaderBytes)
                throw new SeekSharpException($"{path}: file is {length} bytes, too short for the {TokenShardFormat.HeaderBytes}-byte token shard header.");
            Span<byte> header = stackalloc byte[TokenShardFormat.HeaderBytes];
            fs.ReadExactly(header);

            if (!header[..8].SequenceEqual(TokenShardFormat.Magic))
                throw new SeekSharpException($"{path}: not a token shard (magic is not SEEKTOK1); an unfinished or foreign file?");
            var version = BinaryPrimitives.ReadInt32LittleEndian(header[8..]);
            if (version != TokenShardFormat.Version)
                throw new SeekSharpException($"{path}: token shard format version {version} is not supported; expected {TokenShardFormat.Version}.");
            var code = BinaryPrimitives.ReadInt32LittleEndian(header[12..]);
            if (code is not ((int)TokenDType.UInt16 or (int)TokenDType.UInt32))
                throw new SeekSharpException($"{path}: unknown token dtype code {code}; expected 1 (uint16) or 2 (uint32).");
            var dtype = (TokenDType)code;
            var count = BinaryPrimitives.ReadInt64LittleEndian(header[16..]);
            var vocab = BinaryPrimitives.ReadInt32LittleEndian(header[24..]);
            if (vocab <= 0)
                throw new SeekSharpException($"{path}: vocabulary size {vocab} in the header must be positive.");
            var elem = TokenShardFormat.ElementSize(dtype);
            // Checked against the real length before multiplying, so a hostile count cannot overflow.
            if (count < 0 || count > (length - TokenShardFormat.HeaderBytes) / elem
                || TokenShardFormat.HeaderBytes + count * elem != length)
            {
                var expected = count < 0 || count > long.MaxValue / 8 ? "an impossible number of" : $"{TokenShardFormat.HeaderBytes + count * elem}";
                throw new SeekSharpException(
                    $"{path}: header says {count} {dtype} tokens, so the file should be {expected} bytes, but it is {length} bytes (truncated or corrupt).");
            }
            var hash = TokenShardFormat.ReadHash(header);

            MemoryMappedFile? map = null;
            MemoryMappedViewAccessor? view = null;
            if (count > 0)
            {
                map = MemoryMappedFile.CreateFromFile(fs, mapName: null, capacity: 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: false);
                view = map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
            }
            else
            {
                fs.Dispose();
            }
            return new TokenShard(path, dtype, count, vocab, hash, map, view);
        }
        catch
        {
            fs.Dispose();
            throw;
        }
    }

    public int this[long i]
    {
        get
        {
            if ((ulong)i >= (ulong)Count) throw new ArgumentOutOfRangeException(nameof(i), i, $"Token index outside [0, {Count}) in {Path}.");
            var p = Pointer();
            return _elemSize == 2
                ? BinaryPrimitives.ReadUInt16LittleEndian(new ReadOnlySpan<byte>(p + i * 2, 2))
                : (int)BinaryPrimitives.ReadUInt32LittleEndian(new ReadOnlySpan<byte>(p + i * 4, 4));
        }
    }

    /// <summary>Copies tokens [start, start + dest.Length) into <paramref name="dest"/>.</summary>
    public void Read(long start, Span<int> dest)
    {
        if (start < 0 || start > Count - dest.Length)
            throw new ArgumentOutOfRangeException(nameof(start), start, $"Reading {dest.Length} tokens from {start} is outside [0, {Count}) in {Path}.");
        if (dest.IsEmpty) return;
        var p = Pointer();
        if (_elemSize == 2)
        {
            var src = new ReadOnlySpan<ushort>(p + start * 2, dest.Length);
            for (var i = 0; i < src.Length; i++) dest[i] = BitConverter.IsLittleEndian ? src[i] : BinaryPrimitives.ReverseEndianness(src[i]);
        }
        else
        {
            var src = new ReadOnlySpan<uint>(p + start * 4, dest.Length);
            for (var i = 0; i < src.Length; i++) dest[i] = (int)(BitConverter.IsLittleEndian ? src[i] : BinaryPrimitives.ReverseEndianness(src[i]));
        }
    }

    private byte* Pointer() => _tokens != null || Count == 0 ? _tokens : throw new ObjectDisposedException(Path);

    public void Dispose()
    {
        if (_view is not null && _tokens != null)
        {
            _view.SafeMemoryMappedViewHandle.ReleasePointer();
            _tokens = null;
        }
        _view?.Dispose();
        _map?.Dispose();
    }
}
