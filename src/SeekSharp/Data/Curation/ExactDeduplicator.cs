using System.Security.Cryptography;
using System.Text;

namespace SeekSharp.Data.Curation;

// Exact deduplication on a normalized form of the text: lowercased, runs of whitespace collapsed to one
// space, ends trimmed, so re-wrapped or re-cased copies count as the same document. The key is the first
// 128 bits of SHA-256 (in the BCL; no extra package, hardware-accelerated, and collisions at 2^-64 for
// billions of documents are irrelevant). The normalized text is streamed through the hash in chunks, so
// a multi-MB document does not get a second full copy.
//
// Memory: one 16-byte key plus the origin string per distinct document (~60 B + origin).
// Single-threaded: the pipeline calls it from one thread in input order, which also makes "first
// origin" deterministic. Do not share an instance between threads.

/// <summary>Finds documents whose normalized text was seen before.</summary>
public sealed class ExactDeduplicator
{
    readonly Dictionary<UInt128, string> first = [];

    /// <summary>Distinct documents remembered.</summary>
    public int Count => first.Count;

    /// <summary>True when an equal (normalized) text was seen; <paramref name="firstOrigin"/> is then where
    /// it was first seen. Otherwise remembers <paramref name="origin"/> for this text and returns false.</summary>
    public bool IsDuplicate(string text, string origin, out string firstOrigin) => IsDuplicate(Key(text), origin, out firstOrigin);

    /// <summary>As <see cref="IsDuplicate(string, string, out string)"/> with a key from <see cref="Key"/>, so
    /// the pipeline can hash in parallel and decide in input order.</summary>
    public bool IsDuplicate(UInt128 key, string origin, out string firstOrigin)
    {
        if (first.TryGetValue(key, out var seen)) { firstOrigin = seen; return true; }
        first.Add(key, origin);
        firstOrigin = origin;
        return false;
    }

    /// <summary>The 128-bit key of the normalized text.</summary>
    internal static UInt128 Key(string text)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Span<char> chunk = stackalloc char[2048];
        Span<byte> bytes = stackalloc byte[2048 * 3];
        int n = 0;
        bool pendingSpace = false, any = false;
        foreach (var c in text)
        {
            if (char.IsWhiteSpace(c)) { pendingSpace = any; continue; }
            // Flush with room for a space and a character to spare, never between a surrogate pair
            // (unless the text is malformed enough to fill the last slots with lone surrogates).
            if (n >= chunk.Length - 4 && (!char.IsHighSurrogate(chunk[n - 1]) || n >= chunk.Length - 2))
            { Flush(sha, chunk[..n], bytes); n = 0; }
            if (pendingSpace) { chunk[n++] = ' '; pendingSpace = false; }
            chunk[n++] = char.ToLowerInvariant(c);
            any = true;
        }
        Flush(sha, chunk[..n], bytes);
        Span<byte> digest = stackalloc byte[32];
        sha.GetHashAndReset(digest);
        return System.Buffers.Binary.BinaryPrimitives.ReadUInt128LittleEndian(digest);
    }

    static void Flush(IncrementalHash sha, ReadOnlySpan<char> chars, Span<byte> bytes)
    {
        int len = Encoding.UTF8.GetBytes(chars, bytes);
        sha.AppendData(bytes[..len]);
    }
}
