using System.Buffers.Binary;

namespace SeekSharp.Data;

/// <summary>
/// Streams token ids into a shard file. Nothing appears at <see cref="Path"/> until
/// <see cref="Complete"/>: a killed or failed run never leaves a shard that looks finished.
/// </summary>
/// <remarks>
/// Design: this is AtomicFile's temp-then-rename pattern, but streaming, because a shard can be far
/// larger than memory. The header is written last (with the final count), then the file is flushed
/// to disk and renamed into place.
/// </remarks>
public sealed class TokenShardWriter : IDisposable
{
    private const int BufferTokens = 1 << 16;

    private readonly string _tmpPath;
    private readonly int _elemSize;
    private readonly byte[] _buffer;
    private FileStream? _stream;
    private bool _completed;

    public TokenShardWriter(string path, int vocabSize, string tokenizerHash)
    {
        if (vocabSize <= 0) throw new ArgumentOutOfRangeException(nameof(vocabSize), vocabSize, "The vocabulary size must be positive.");
        TokenShardFormat.CheckHash(tokenizerHash);
        Path = System.IO.Path.GetFullPath(path);
        VocabSize = vocabSize;
        TokenizerHash = tokenizerHash;
        DType = TokenShardFormat.DTypeFor(vocabSize);
        _elemSize = TokenShardFormat.ElementSize(DType);
        _buffer = new byte[BufferTokens * _elemSize];

        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(Path)!);
        _tmpPath = Path + $".tmp-{Environment.ProcessId}-{Guid.NewGuid():N}";
        _stream = new FileStream(_tmpPath, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 16);
        // Placeholder header: a zero magic also marks the temp file as unfinished if it is ever read.
        _stream.Write(new byte[TokenShardFormat.HeaderBytes]);
    }

    public string Path { get; }
    public int VocabSize { get; }
    public string TokenizerHash { get; }
    public TokenDType DType { get; }
    public long Count { get; private set; }

    public void Append(ReadOnlySpan<int> tokens)
    {
        var stream = _stream ?? throw new InvalidOperationException($"{Path}: the shard writer is already completed or disposed.");
        while (!tokens.IsEmpty)
        {
            var n = Math.Min(tokens.Length, BufferTokens);
            var chunk = tokens[..n];
            for (var i = 0; i < n; i++)
            {
                var id = chunk[i];
                if ((uint)id >= (uint)VocabSize)
                    throw new SeekSharpException($"{Path}: token id {id} at position {Count + i} is outside the vocabulary [0, {VocabSize}).");
                if (_elemSize == 2)
                    BinaryPrimitives.WriteUInt16LittleEndian(_buffer.AsSpan(i * 2), (ushort)id);
                else
                    BinaryPrimitives.WriteUInt32LittleEndian(_buffer.AsSpan(i * 4), (uint)id);
            }
            stream.Write(_buffer, 0, n * _elemSize);
            Count += n;
            tokens = tokens[n..];
        }
    }

    /// <summary>Writes the header, flushes to disk and renames the file into place.</summary>
    public void Complete()
    {
        var stream = _stream ?? throw new InvalidOperationException($"{Path}: the shard writer is already completed or disposed.");
        Span<byte> header = stackalloc byte[TokenShardFormat.HeaderBytes];
        TokenShardFormat.WriteHeader(header, DType, Count, VocabSize, TokenizerHash);
        stream.Position = 0;
        stream.Write(header);
        stream.Flush(flushToDisk: true);
        stream.Dispose();
        _stream = null;
        File.Move(_tmpPath, Path, overwrite: true);
        _completed = true;
    }

    public void Dispose()
    {
        _stream?.Dispose();
        _stream = null;
        if (!_completed)
        {
            try { File.Delete(_tmpPath); } catch (IOException) { }
        }
    }
}
