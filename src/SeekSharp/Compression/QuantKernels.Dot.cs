using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SeekSharp.Compression;

// The measured alternative (QuantKernels.Float.cs is the chosen route; see docs/decisions/0014): one weight row
// against one or four activation rows, all in integers per 32-block as llama.cpp's
// ggml_vec_dot_q8_0_q8_0 / ggml_vec_dot_q4_0_q8_0 do. The activations were quantized to Q8_0 first (QuantKernels.
// Quantize), so a block's dot product is an exact int32 sum scaled once by d_w * d_x.
//   Q8_0 x Q8_0: vpdpbusd multiplies unsigned by signed bytes, so the sign of x is moved onto w (vpsignb) and |x|
//                is the unsigned side; |x| <= 127, so nothing saturates.
//   Q4_0 x Q8_0: the nibbles q (0..15) are already unsigned: dot(q - 8, x) = dot(q, x) - 8 * sum(x), and the second
//                term is a per-block constant of the activations (xc = 8 * d_x * sum(x)) precomputed once per call.
// .NET 10 exposes 256-bit VNNI as AvxVnni (this CPU's 512-bit VNNI has no .NET class without AVX10), so blocks are
// Vector256: one 32-byte block per instruction, which is also exactly one block. Without AVX-VNNI the same dot is
// vpmaddubsw + vpmaddwd (AVX2; the int16 pair sums stay below 2 * 127 * 127 < 32767); without AVX2+FMA, scalar.
// The 4-row variant loads and unpacks each weight block once for four activation rows (M >= 4), which is where
// batched decode gains over M separate passes over the weights.
public static unsafe partial class QuantKernels
{
    /// <summary>fp16 bits to float for every bits pattern (256 KiB, L2-resident): the block scales' decode is one load.</summary>
    static readonly float* HalfToFloat = BuildHalfTable();

    static float* BuildHalfTable()
    {
        var table = (float*)NativeMemory.Alloc(65536, sizeof(float));
        for (int i = 0; i < 65536; i++) table[i] = (float)BitConverter.UInt16BitsToHalf((ushort)i);
        return table;
    }

    /// <summary>Tests set this to run the scalar fallback on a machine that has AVX2 (both give the same sums).</summary>
    internal static bool ForceScalar;

    static bool Simd => Avx2.IsSupported && Fma.IsSupported && !ForceScalar;

    /// <summary>Sum over the 8 int32 lanes' worth of u8 x s8 products, per lane (lane i sums bytes 4i..4i+3).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<int> Dp(Vector256<byte> u, Vector256<sbyte> s) => AvxVnni.IsSupported
        ? AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, u, s)
        : Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(u, s), Vector256.Create((short)1));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<float> Fmadd(Vector256<int> dp, float scale, Vector256<float> acc) =>
        Fma.MultiplyAdd(Avx.ConvertToVector256Single(dp), Vector256.Create(scale), acc);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<byte> Nibbles(byte* qs)
    {
        var raw = Vector128.Load(qs);
        var mask = Vector128.Create((byte)0x0F);
        return Vector256.Create(raw & mask, Vector128.ShiftRightLogical(raw.AsUInt16(), 4).AsByte() & mask);
    }

    /// <summary>One Q8_0 weight row (nb blocks) dotted with one quantized activation row.</summary>
    /// <remarks>One accumulator, as each row of the 4-row tile has, so a row's sum is the same in either (batch invariance).</remarks>
    internal static float DotQ8(byte* w, sbyte* xq, byte* xa, float* xd, int nb)
    {
        if (!Simd) return DotQ8Scalar(w, xq, xd, nb);
        Vector256<float> acc = default;
        for (int b = 0; b < nb; b++, w += 34)
            acc = Fmadd(Dp(Vector256.Load(xa + b * 32), Avx2.Sign(Vector256.Load((sbyte*)w + 2), Vector256.Load(xq + b * 32))), HalfToFloat[*(ushort*)w] * xd[b], acc);
        return Vector256.Sum(acc);
    }

    /// <summary>One Q8_0 weight row against four activation rows (k apart); writes y[0], y[ys], y[2ys], y[3ys].</summary>
    static void DotQ8x4(byte* w, sbyte* xq, byte* xa, float* xd, int nb, int k, float* y, int ys)
    {
        if (!Simd) { for (int i = 0; i < 4; i++) y[i * ys] = DotQ8Scalar(w, xq + i * k, xd + i * nb, nb); return; }
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        for (int b = 0; b < nb; b++, w += 34)
        {
            var wq = Vector256.Load((sbyte*)w + 2);
            float dw = HalfToFloat[*(ushort*)w];
            int o = b * 32;
            a0 = Fmadd(Dp(Vector256.Load(xa + o), Avx2.Sign(wq, Vector256.Load(xq + o))), dw * xd[b], a0);
            a1 = Fmadd(Dp(Vector256.Load(xa + k + o), Avx2.Sign(wq, Vector256.Load(xq + k + o))), dw * xd[nb + b], a1);
            a2 = Fmadd(Dp(Vector256.Load(xa + 2 * k + o), Avx2.Sign(wq, Vector256.Load(xq + 2 * k + o))), dw * xd[2 * nb + b], a2);
            a3 = Fmadd(Dp(Vector256.Load(xa + 3 * k + o), Avx2.Sign(wq, Vector256.Load(xq + 3 * k + o))), dw * xd[3 * nb + b], a3);
        }
        y[0] = Vector256.Sum(a0); y[ys] = Vector256.Sum(a1); y[2 * ys] = Vector256.Sum(a2); y[3 * ys] = Vector256.Sum(a3);
    }

    /// <summary>One Q4_0 weight row dotted with one quantized activation row (xc: 8 * d_x * sum(x) per block).</summary>
    internal static float DotQ4(byte* w, sbyte* xq, float* xd, float* xc, int nb)
    {
        if (!Simd) return DotQ4Scalar(w, xq, xd, nb);
        Vector256<float> acc = default;
        float corr = 0f;
        for (int b = 0; b < nb; b++, w += 18)
        {
            float d = HalfToFloat[*(ushort*)w];
            acc = Fmadd(Dp(Nibbles(w + 2), Vector256.Load(xq + b * 32)), d * xd[b], acc);
            corr += d * xc[b];
        }
        return Vector256.Sum(acc) - corr;
    }

    /// <summary>One Q4_0 weight row against four activation rows (k apart); writes y[0], y[ys], y[2ys], y[3ys].</summary>
    static void DotQ4x4(byte* w, sbyte* xq, float* xd, float* xc, int nb, int k, float* y, int ys)
    {
        if (!Simd) { for (int i = 0; i < 4; i++) y[i * ys] = DotQ4Scalar(w, xq + i * k, xd + i * nb, nb); return; }
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        float c0 = 0f, c1 = 0f, c2 = 0f, c3 = 0f;
        for (int b = 0; b < nb; b++, w += 18)
        {
            var q = Nibbles(w + 2);
            float dw = HalfToFloat[*(ushort*)w];
            int o = b * 32;
            a0 = Fmadd(Dp(q, Vector256.Load(xq + o)), dw * xd[b], a0);
            a1 = Fmadd(Dp(q, Vector256.Load(xq + k + o)), dw * xd[nb + b], a1);
            a2 = Fmadd(Dp(q, Vector256.Load(xq + 2 * k + o)), dw * xd[2 * nb + b], a2);
            a3 = Fmadd(Dp(q, Vector256.Load(xq + 3 * k + o)), dw * xd[3 * nb + b], a3);
            c0 += dw * xc[b]; c1 += dw * xc[nb + b]; c2 += dw * xc[2 * nb + b]; c3 += dw * xc[3 * nb + b];
        }
        y[0] = Vector256.Sum(a0) - c0; y[ys] = Vector256.Sum(a1) - c1; y[2 * ys] = Vector256.Sum(a2) - c2; y[3 * ys] = Vector256.Sum(a3) - c3;
    }

    // The fallbacks compute the same integer sums, so every route gives the same result up to float summation order.
    internal static float DotQ8Scalar(byte* w, sbyte* xq, float* xd, int nb)
    {
        float acc = 0f;
        for (int b = 0; b < nb; b++, w += 34)
        {
            int sum = 0;
            for (int j = 0; j < 32; j++) sum += (sbyte)w[2 + j] * xq[b * 32 + j];
            acc += sum * HalfToFloat[*(ushort*)w] * xd[b];
        }
        return acc;
    }

    internal static float DotQ4Scalar(byte* w, sbyte* xq, float* xd, int nb)
    {
        float acc = 0f;
        for (int b = 0; b < nb; b++, w += 18)
        {
            int sum = 0;
            for (int j = 0; j < 16; j++)
                sum += ((w[2 + j] & 0x0F) - 8) * xq[b * 32 + j] + ((w[2 + j] >> 4) - 8) * xq[b * 32 + j + 16];
            acc += sum * HalfToFloat[*(ushort*)w] * xd[b];
        }
        return acc;
    }
}
