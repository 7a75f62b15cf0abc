using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SeekSharp.Compression;

// The chosen route: dequantize each 32-block of W in registers to exact fp32 (q * d has at most 8 + 11 significant
// bits, so it is exact, as is (q - 8) * d for Q4_0) and FMA it with the fp32 activations. Compared with llama.cpp's
// int8-activation route (QuantKernels.Dot.cs) it costs about the same at M = 1 (the dequantize is ~6 ops per
// block against ~5 for sign + vpdpbusd + convert + scale), and less from M = 4 on: the dequantized block is shared
// by four activation rows, each then needs only two 16-wide FMAs per block. It also adds no activation rounding:
// the result is x · Decode(W)ᵀ up to fp32 summation order.
// Batch invariance (docs/decisions/0011): every activation row goes through the same sequence of fp32 operations
// (two accumulators, blocks in order, one final reduction) whether it is computed alone or in a 4-row tile, so a
// sequence's logits do not depend on how many others share its decode step.
public static unsafe partial class QuantKernels
{
    static bool Simd512 => Avx512F.IsSupported && !ForceScalar;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> Q8Half(byte* qs, Vector512<float> d) =>
        Avx512F.ConvertToVector512Single(Avx512F.ConvertToVector512Int32(Vector128.Load((sbyte*)qs))) * d;

    /// <summary>One Q8_0 weight row with one fp32 activation row of nb * 32 values.</summary>
    internal static float FloatQ8(byte* w, float* x, int nb)
    {
        if (!Simd512) return FloatScalar(BlockType.Q8_0, w, x, nb);
        Vector512<float> a0 = default, a1 = default;
        for (int b = 0; b < nb; b++, w += 34, x += 32)
        {
            var d = Vector512.Create(HalfToFloat[*(ushort*)w]);
            a0 = Avx512F.FusedMultiplyAdd(Q8Half(w + 2, d), Vector512.Load(x), a0);
            a1 = Avx512F.FusedMultiplyAdd(Q8Half(w + 18, d), Vector512.Load(x + 16), a1);
        }
        return Vector512.Sum(a0 + a1);
    }

    /// <summary>One Q8_0 weight row with four activation rows (k apart); writes y[0], y[ys], y[2ys], y[3ys].</summary>
    static void FloatQ8x4(byte* w, float* x, int nb, int k, float* y, int ys)
    {
        if (!Simd512) { for (int i = 0; i < 4; i++) y[i * ys] = FloatScalar(BlockType.Q8_0, w, x + i * k, nb); return; }
        Vector512<float> a0 = default, a1 = default, b0 = default, b1 = default, c0 = default, c1 = default, e0 = default, e1 = default;
        for (int b = 0; b < nb; b++, w += 34, x += 32)
        {
            var d = Vector512.Create(HalfToFloat[*(ushort*)w]);
            Vector512<float> lo = Q8Half(w + 2, d), hi = Q8Half(w + 18, d);
            a0 = Avx512F.FusedMultiplyAdd(lo, Vector512.Load(x), a0); a1 = Avx512F.FusedMultiplyAdd(hi, Vector512.Load(x + 16), a1);
            b0 = Avx512F.FusedMultiplyAdd(lo, Vector512.Load(x + k), b0); b1 = Avx512F.FusedMultiplyAdd(hi, Vector512.Load(x + k + 16), b1);
            c0 = Avx512F.FusedMultiplyAdd(lo, Vector512.Load(x + 2 * k), c0); c1 = Avx512F.FusedMultiplyAdd(hi, Vector512.Load(x + 2 * k + 16), c1);
            e0 = Avx512F.FusedMultiplyAdd(lo, Vector512.Load(x + 3 * k), e0); e1 = Avx512F.FusedMultiplyAdd(hi, Vector512.Load(x + 3 * k + 16), e1);
        }
        y[0] = Vector512.Sum(a0 + a1); y[ys] = Vector512.Sum(b0 + b1); y[2 * ys] = Vector512.Sum(c0 + c1); y[3 * ys] = Vector512.Sum(e0 + e1);
    }

    /// <summary>A Q4_0 block's 32 weights as two fp32 vectors: elements 0..15 from the low nibbles, 16..31 from the high.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static (Vector512<float> Lo, Vector512<float> Hi) Q4Block(byte* w)
    {
        float dw = HalfToFloat[*(ushort*)w];
        var d = Vector512.Create(dw);
        var off = Vector512.Create(-8f * dw);
        var q = Avx512F.ConvertToVector512Int32(Vector128.Load(w + 2)); // zero-extended bytes
        var lo = Avx512F.ConvertToVector512Single(q & Vector512.Create(0x0F));
        var hi = Avx512F.ConvertToVector512Single(Vector512.ShiftRightLogical(q, 4));
        return (Avx512F.FusedMultiplyAdd(lo, d, off), Avx512F.FusedMultiplyAdd(hi, d, off));
    }

    /// <summary>One Q4_0 weight row with one fp32 activation row.</summary>
    internal static float FloatQ4(byte* w, float* x, int nb)
    {
        if (!Simd512) return FloatScalar(BlockType.Q4_0, w, x, nb);
        Vector512<float> a0 = default, a1 = default;
        for (int b = 0; b < nb; b++, w += 18, x += 32)
        {
            var (lo, hi) = Q4Block(w);
            a0 = Avx512F.FusedMultiplyAdd(lo, Vector512.Load(x), a0);
            a1 = Avx512F.FusedMultiplyAdd(hi, Vector512.Load(x + 16), a1);
        }
        return Vector512.Sum(a0 + a1);
    }

    /// <summary>One Q4_0 weight row with four activation rows (k apart).</summary>
    static void FloatQ4x4(byte* w, float* x, int nb, int k, float* y, int ys)
    {
        if (!Simd512) { for (int i = 0; i < 4; i++) y[i * ys] = FloatScalar(BlockType.Q4_0, w, x + i * k, nb); return; }
        Vector512<float> a0 = default, a1 = default, b0 = default, b1 = default, c0 = default, c1 = default, e0 = default, e1 = default;
        for (int b = 0; b < nb; b++, w += 18, x += 32)
        {
            var (lo, hi) = Q4Block(w);
            a0 = Avx512F.FusedMultiplyAdd(lo, Vector512.Load(x), a0); a1 = Avx512F.FusedMultiplyAdd(hi, Vector512.Load(x + 16), a1);
            b0 = Avx512F.FusedMultiplyAdd(lo, Vector512.Load(x + k), b0); b1 = Avx512F.FusedMultiplyAdd(hi, Vector512.Load(x + k + 16), b1);
            c0 = Avx512F.FusedMultiplyAdd(lo, Vector512.Load(x + 2 * k), c0); c1 = Avx512F.FusedMultiplyAdd(hi, Vector512.Load(x + 2 * k + 16), c1);
            e0 = Avx512F.FusedMultiplyAdd(lo, Vector512.Load(x + 3 * k), e0); e1 = Avx512F.FusedMultiplyAdd(hi, Vector512.Load(x + 3 * k + 16), e1);
        }
        y[0] = Vector512.Sum(a0 + a1); y[ys] = Vector512.Sum(b0 + b1); y[2 * ys] = Vector512.Sum(c0 + c1); y[3 * ys] = Vector512.Sum(e0 + e1);
    }

    // Without AVX-512: the same exact dequantized weights, summed in plain order (one order on a given machine,
    // for every tile, so batch invariance holds there too).
    static float FloatScalar(BlockType type, byte* w, float* x, int nb)
    {
        float acc = 0f;
        int bytes = BlockQuant.BytesPerBlock(type);
        for (int b = 0; b < nb; b++, w += bytes, x += 32)
        {
            float d = HalfToFloat[*(ushort*)w];
            if (type == BlockType.Q8_0)
                for (int j = 0; j < 32; j++) acc += (sbyte)w[2 + j] * d * x[j];
            else
                for (int j = 0; j < 16; j++) acc += ((w[2 + j] & 0x0F) - 8) * d * x[j] + ((w[2 + j] >> 4) - 8) * d * x[j + 16];
        }
        return acc;
    }
}
