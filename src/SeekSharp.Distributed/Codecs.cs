using System.Runtime.InteropServices;

namespace SeekSharp.Distributed;

// What a payload holds: a float vector (weights, a pseudo-gradient, or the hub's broadcast change), either as
// little-endian fp32 ("none") or as int8 ("int8"): blocks of 256 values, each an fp32 scale (max |x| / 127) then its
// 256 codes, round to nearest. Per-block rather than per-tensor scales so one large embedding row cannot flatten the
// codes of every small one; 256 keeps the scales at 1.6 % of the bytes. Decoding refuses a length that does not
// match and a non-finite scale, so a damaged payload is rejected before anything is averaged.

public static class Codecs
{
    public const string None = "none", Int8 = "int8";
    public const int Block = 256;

    public static bool IsKnown(string codec) => codec is None or Int8;

    /// <summary>Bytes of n values in <paramref name="codec"/>.</summary>
    public static long EncodedLength(string codec, long n) => codec == Int8 ? n + 4 * ((n + Block - 1) / Block) : 4 * n;

    public static byte[] Encode(string codec, ReadOnlySpan<float> x) => codec == Int8 ? EncodeInt8(x) : MemoryMarshal.AsBytes(x).ToArray();

    /// <summary>Decodes into <paramref name="into"/> (its length is the expected count); null when the payload is fine,
    /// else what is wrong with it.</summary>
    public static string? TryDecode(string codec, ReadOnlySpan<byte> payload, Span<float> into)
    {
        if (payload.Length != EncodedLength(codec, into.Length))
            return $"payload of {payload.Length} bytes, expected {EncodedLength(codec, into.Length)} for {into.Length} values ({codec})";
        if (codec != Int8)
        {
            MemoryMarshal.Cast<byte, float>(payload).CopyTo(into);
            return null;
        }
        int pos = 0;
        for (int b = 0; b * Block < into.Length; b++)
        {
            float scale = MemoryMarshal.Read<float>(payload[pos..]);
            pos += 4;
            if (!float.IsFinite(scale) || scale < 0) return $"block {b} has scale {scale}";
            int n = Math.Min(Block, into.Length - b * Block);
            var codes = MemoryMarshal.Cast<byte, sbyte>(payload.Slice(pos, n));
            var dst = into.Slice(b * Block, n);
            for (int i = 0; i < n; i++) dst[i] = codes[i] * scale;
            pos += n;
        }
        return null;
    }

    static byte[] EncodeInt8(ReadOnlySpan<float> x)
    {
        var output = new byte[EncodedLength(Int8, x.Length)];
        int pos = 0;
        for (int b = 0; b * Block < x.Length; b++)
        {
            var src = x.Slice(b * Block, Math.Min(Block, x.Length - b * Block));
            float max = 0;
            foreach (var v in src) max = MathF.Max(max, MathF.Abs(v));
            if (ContainsNonFinite(src)) max = float.NaN;   // a NaN/Inf scale: the hub rejects the payload at decode
            float scale = max / 127f;
            MemoryMarshal.Write(output.AsSpan(pos), in scale);
            pos += 4;
            float inv = scale > 0 ? 1f / scale : 0f;
            for (int i = 0; i < src.Length; i++)
                output[pos + i] = (byte)(sbyte)Math.Clamp(MathF.Round(src[i] * inv), -127f, 127f);
            pos += src.Length;
        }
        return output;
    }

    static bool ContainsNonFinite(ReadOnlySpan<float> x)
    {
        foreach (var v in x) if (!float.IsFinite(v)) return true;
        return false;
    }
}

/// <summary>Error feedback for a lossy codec: what the codes could not say this time is added to the next vector, so
/// nothing is lost over rounds, only delayed (Seide et al. 2014; Karimireddy et al. 2019).</summary>
public sealed class ErrorFeedback(int length)
{
    public float[] Residual { get; } = new float[length];

    /// <summary>Encodes x + residual and keeps what the decoded payload misses; returns the payload and its decoded values.</summary>
    public (byte[] Payload, float[] Decoded) Encode(string codec, ReadOnlySpan<float> x)
    {
        var v = new float[x.Length];
        for (int i = 0; i < v.Length; i++) v[i] = x[i] + Residual[i];
        var payload = Codecs.Encode(codec, v);
        var decoded = new float[v.Length];
        if (Codecs.TryDecode(codec, payload, decoded) is { } problem) throw new InvalidOperationException(problem);
        for (int i = 0; i < v.Length; i++) Residual[i] = v[i] - decoded[i];
        return (payload, decoded);
    }
}
