using System.Buffers.Binary;
using System.Text;

namespace SeekSharp.Data;

/// <summary>How token ids are stored in a shard.</summary>
public enum TokenDType
{
    UInt16 = 1,
    UInt32 = 2,
}

// Design: the on-disk layout lives in one place so the writer and the reader share it.
// Layout (64 bytes, little-endian): magic "SEEKTOK1" [0,8), version int32 [8,12), dtype code int32
// [12,16), token count int64 [16,24), vocab size int32 [24,28), tokenizer hash 16 ASCII bytes [28,44)
// (NUL padded), zeros [44,64). A fixed header keeps the token array at a known offset for mmap.
internal static class TokenShardFormat
{
    public const int HeaderBytes = 64;
    public const int Version = 1;
    public const int HashBytes = 16;
    public static ReadOnlySpan<byte> Magic => "SEEKTOK1"u8;

    // uint16 halves the disk and page-cache footprint for every vocabulary that fits in it.
    public static TokenDType DTypeFor(int vocabSize) => vocabSize <= 65536 ? TokenDType.UInt16 : TokenDType.UInt32;

    public static int ElementSize(TokenDType dtype) => dtype == TokenDType.UInt16 ? 2 : 4;

    public static void CheckHash(string tokenizerHash)
    {
        ArgumentNullException.ThrowIfNull(tokenizerHash);
        if (tokenizerHash.Length is 0 or > HashBytes || tokenizerHash.Any(c => c is < '!' or > '~'))
            throw new ArgumentException(
                $"The tokenizer hash must be 1 to {HashBytes} printable ASCII characters (hex), got '{tokenizerHash}'.", nameof(tokenizerHash));
    }

    public static void WriteHeader(Span<byte> header, TokenDType dtype, long count, int vocabSize, string tokenizerHash)
    {
        header[..HeaderBytes].Clear();
        Magic.CopyTo(header);
        BinaryPrimitives.WriteInt32LittleEndian(header[8..], Version);
        BinaryPrimitives.WriteInt32LittleEndian(header[12..], (int)dtype);
        BinaryPrimitives.WriteInt64LittleEndian(header[16..], count);
        BinaryPrimitives.WriteInt32LittleEndian(header[24..], vocabSize);
        Encoding.ASCII.GetBytes(tokenizerHash, header.Slice(28, HashBytes));
    }

    public static string ReadHash(ReadOnlySpan<byte> header)
    {
        var raw = header.Slice(28, HashBytes);
        var end = raw.IndexOf((byte)0);
        return Encoding.ASCII.GetString(end < 0 ? raw : raw[..end]);
    }
}
