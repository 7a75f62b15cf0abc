using System.Security.Cryptography;

namespace SeekSharp.Distributed;

// A payload crosses as chunks of at most ChunkBytes, each with its SHA-256 and the whole payload's SHA-256 checked
// once assembled: a flipped bit anywhere is caught at the chunk (resent) and nothing unverified is decoded.

public static class Chunks
{
    /// <summary>1 MiB: in the 1-4 MiB range, and small enough that a chunk call on a slow link stays well
    /// inside the call timeout.</summary>
    public const int DefaultBytes = 1 << 20;

    public static int Count(long length, int chunkBytes) => (int)Math.Max(1, (length + chunkBytes - 1) / chunkBytes);

    public static Chunk Slice(byte[] payload, int index, int chunkBytes)
    {
        int start = index * chunkBytes, n = (int)Math.Min(chunkBytes, payload.Length - (long)start);
        if (index < 0 || n < 0) throw new ArgumentOutOfRangeException(nameof(index), index, "no such chunk");
        var data = payload.AsSpan(start, n).ToArray();
        return new Chunk { Index = index, Data = data, Sha256 = SHA256.HashData(data) };
    }

    public static bool Verify(Chunk c) => c.Sha256.Length == 32 && SHA256.HashData(c.Data).AsSpan().SequenceEqual(c.Sha256);
}

/// <summary>Collects a payload's chunks (any order, a chunk sent twice replaces itself) and checks the whole.</summary>
public sealed class ChunkAssembler(int chunks, long length)
{
    readonly byte[]?[] parts = new byte[]?[chunks];

    public int Expected => chunks;
    public long Received { get; private set; }

    /// <summary>False when the chunk's checksum or place is wrong.</summary>
    public bool Add(Chunk c)
    {
        if (c.Index < 0 || c.Index >= chunks || !Chunks.Verify(c)) return false;
        if (parts[c.Index] is { } old) Received -= old.Length;
        parts[c.Index] = c.Data;
        Received += c.Data.Length;
        return true;
    }

    /// <summary>The payload, or null with the reason when a chunk is missing, the length is off or the hash differs.</summary>
    public (byte[]? Payload, string? Problem) Assemble(byte[] sha256)
    {
        if (parts.Any(p => p is null)) return (null, $"{parts.Count(p => p is null)} of {chunks} chunks missing");
        if (Received != length) return (null, $"{Received} bytes received, {length} announced");
        var all = new byte[length];
        long pos = 0;
        foreach (var p in parts) { p!.CopyTo(all, pos); pos += p!.Length; }
        if (!SHA256.HashData(all).AsSpan().SequenceEqual(sha256)) return (null, "payload checksum mismatch");
        return (all, null);
    }
}
