using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SeekSharp.Compression;

// fp8 (E4M3, DeepSeek-V3's block-scaled layout) for the fused decode path: W as one byte per weight and one fp32
// scale_inv per 128 x 128 block. Each code decodes exactly in registers in three ops: sign-extended to 32 bits and
// shifted left by 20, its 7 magnitude bits land in an fp32's low exponent bits and top mantissa bits and its sign in
// bit 31 (the mask clears the sign's copies in between), which is the value times 2^-120, subnormals included (an fp32
// subnormal then). The 2^120 is not multiplied back per weight: the activations are scaled by 2^64 once per call
// and each block's sum by 2^56 with its scale, all powers of two, so every product and sum is the exact one times
// 2^-56 and rounds exactly as it would unscaled (bit-identical results; 4 ops a 16 weights instead of 5). Rows with
// a value past 2^60, which the scaling could overflow, take the per-weight multiply instead. E4M3's NaN codes (0x7F, 0xFF) would read as +-480: a folder
// holding one is refused at load (QuantizedFolder checks every fp8 weight decodes finite). Products with the fp32
// activations are summed per 128-block of K and each block's sum is scaled by its scale_inv; a tile of four activation
// rows decodes each weight once. Decoding a whole weight per call, the libtorch route, read 4x the bytes and made fp8
// the slowest format to decode. Where K is a multiple of 32 and x comes in Bf16Gemm's kernel order too (the fused decode
// path holds both), 32 codes widen at once to 16 bits (sign-extend, shift by 4, mask: the bf16 pattern of the value
// times 2^-120) and unpack against zero into two fp32 vectors, the elements in kernel order: 7 ops a 32 weights
// instead of 8, 10-15 % faster per call in a microbenchmark on a real model's fp8 weights.
public static unsafe partial class QuantKernels
{
    static readonly Vector512<float> Two120 = Vector512.Create(BitConverter.UInt32BitsToSingle((127u + 120) << 23));
    const float Two64 = 18446744073709551616f, Two56 = 72057594037927936f, Two60 = 1152921504606846976f;

    static readonly Vector512<short> Mask16 = Vector512.Create(unchecked((short)0x87F0));

    /// <summary>How 32 codes become two vectors of their values times 2^-120; x must be held in the matching order. The
    /// kernels below are generic over it, so the JIT compiles each route with its decode inlined.</summary>
    interface IFp8Decode
    {
        static abstract void Decode(byte* w, out Vector512<float> lo, out Vector512<float> hi);
    }

    /// <summary>x in natural order: two 16-code decodes (elements 0-15, then 16-31).</summary>
    struct NaturalOrder : IFp8Decode
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Decode(byte* w, out Vector512<float> lo, out Vector512<float> hi) { lo = Fp8x16(w); hi = Fp8x16(w + 16); }
    }

    /// <summary>x in Bf16Gemm's kernel order: one 32-code decode through 16 bits; <paramref name="lo"/> holds elements
    /// 0-3, 8-11, 16-19, 24-27, <paramref name="hi"/> the others.</summary>
    struct KernelOrder : IFp8Decode
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Decode(byte* w, out Vector512<float> lo, out Vector512<float> hi)
        {
            var v = Avx512BW.ShiftLeftLogical(Avx512BW.ConvertToVector512Int16(Vector256.Load((sbyte*)w)), 4) & Mask16;
            lo = Avx512BW.UnpackLow(Vector512<short>.Zero, v).AsSingle();
            hi = Avx512BW.UnpackHigh(Vector512<short>.Zero, v).AsSingle();
        }
    }

    /// <summary>16 codes as their values times 2^-120 (see the header); natural order's decode and its 16-wide K tail.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> Fp8x16(byte* w) =>
        Avx512F.And(Avx512F.ShiftLeftLogical(Avx512F.ConvertToVector512Int32(Vector128.Load((sbyte*)w)), 20), Vector512.Create(unchecked((int)0x87F0_0000))).AsSingle();

    /// <summary>y (m × n, fp32) = x · Wᵀ for m fp32 rows of x (natural order, k apart, k a multiple of 16) against fp8 codes
    /// (rows <paramref name="rowStride"/> bytes apart) with scale_inv (ceil(n/128) × ceil(k/128), rows
    /// <paramref name="scaleStride"/> floats apart). <paramref name="xk"/>: the same rows in Bf16Gemm's kernel order, or null;
    /// with it and k a multiple of 32 the 32-wide decode runs. Each output's sum runs in one fixed order, whatever m is.</summary>
    internal static void GemmFp8(float* x, float* xk, int m, int k, byte* w, long rowStride, float* scaleInv, long scaleStride, int n, float* y)
    {
        if (xk is not null && k % 32 == 0) GemmFp8<KernelOrder>(xk, m, k, w, rowStride, scaleInv, scaleStride, n, y);
        else GemmFp8<NaturalOrder>(x, m, k, w, rowStride, scaleInv, scaleStride, n, y);
    }

    static void GemmFp8<D>(float* x, int m, int k, byte* w, long rowStride, float* scaleInv, long scaleStride, int n, float* y) where D : struct, IFp8Decode
    {
        using var arena = Kernels.Arena.Open();
        float* xs = arena.Floats((long)m * k);
        var big = Vector512.Create(Two60);
        var over = Vector512<float>.Zero;
        for (long i = 0; i < (long)m * k; i += 16)
        {
            var v = Vector512.Load(x + i);
            over |= Vector512.GreaterThanOrEqual(Vector512.Abs(v), big);
            (v * Two64).Store(xs + i);
        }
        bool scaled = over == Vector512<float>.Zero; // no |x| >= 2^60 (a NaN compares false: it stays NaN scaled)
        float* src = scaled ? xs : x;
        float post = scaled ? Two56 : 1f;
        int r = 0;
        for (; r + 4 <= m; r += 4)
            for (int j = 0; j < n; j++)
                Fp8Dot4<D>(src + (long)r * k, k, w + j * rowStride, scaleInv + (j / Fp8E4M3.Block) * scaleStride, y + (long)r * n + j, n, scaled, post);
        for (; r < m; r++)
            for (int j = 0; j < n; j++)
                y[(long)r * n + j] = scaled
                    ? Fp8Dot<D>(src + (long)r * k, k, w + j * rowStride, scaleInv + (j / Fp8E4M3.Block) * scaleStride, post)
                    : Fp8DotExact<D>(src + (long)r * k, k, w + j * rowStride, scaleInv + (j / Fp8E4M3.Block) * scaleStride);
    }

    /// <summary>One weight row against one activation row: per 128-block, two accumulators (the decode's two halves), then
    /// the block's sum times its scale, added in block order. A 16-wide tail (natural order only) goes to the first.
    /// Fp8Dot4 repeats exactly this per row.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static float Fp8Dot<D>(float* x, int k, byte* w, float* scale, float post) where D : struct, IFp8Decode
    {
        float total = 0;
        for (int lo = 0, b = 0; lo < k; lo += Fp8E4M3.Block, b++)
        {
            int hi = Math.Min(k, lo + Fp8E4M3.Block), c = lo;
            Vector512<float> a0 = default, a1 = default;
            for (; c + 32 <= hi; c += 32)
            {
                D.Decode(w + c, out var u, out var v);
                a0 = Avx512F.FusedMultiplyAdd(u, Vector512.Load(x + c), a0);
                a1 = Avx512F.FusedMultiplyAdd(v, Vector512.Load(x + c + 16), a1);
            }
            if (c < hi) a0 = Avx512F.FusedMultiplyAdd(Fp8x16(w + c), Vector512.Load(x + c), a0);
            total += Vector512.Sum(a0 + a1) * (scale[b] * post);
        }
        return total;
    }

    /// <summary>Fp8Dot with each decoded weight multiplied by 2^120, for activations the scaling could overflow.</summary>
    static float Fp8DotExact<D>(float* x, int k, byte* w, float* scale) where D : struct, IFp8Decode
    {
        float total = 0;
        for (int lo = 0, b = 0; lo < k; lo += Fp8E4M3.Block, b++)
        {
            int hi = Math.Min(k, lo + Fp8E4M3.Block), c = lo;
            Vector512<float> a0 = default, a1 = default;
            for (; c + 32 <= hi; c += 32)
            {
                D.Decode(w + c, out var u, out var v);
                a0 = Avx512F.FusedMultiplyAdd(u * Two120, Vector512.Load(x + c), a0);
                a1 = Avx512F.FusedMultiplyAdd(v * Two120, Vector512.Load(x + c + 16), a1);
            }
            if (c < hi) a0 = Avx512F.FusedMultiplyAdd(Fp8x16(w + c) * Two120, Vector512.Load(x + c), a0);
            total += Vector512.Sum(a0 + a1) * scale[b];
        }
        return total;
    }

    /// <summary>Four activation rows (k apart) against one weight row, each weight decoded once: y[0], y[ys], y[2ys], y[3ys].</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Fp8Dot4<D>(float* x, int k, byte* w, float* scale, float* y, int ys, bool scaled, float post) where D : struct, IFp8Decode
    {
        if (!scaled)
        {
            for (int i = 0; i < 4; i++) y[i * ys] = Fp8DotExact<D>(x + (long)i * k, k, w, scale);
            return;
        }
        float t0 = 0, t1 = 0, t2 = 0, t3 = 0;
        float* x1 = x + k, x2 = x + 2 * k, x3 = x + 3 * k;
        for (int lo = 0, b = 0; lo < k; lo += Fp8E4M3.Block, b++)
        {
            int hi = Math.Min(k, lo + Fp8E4M3.Block), c = lo;
            Vector512<float> a0 = default, a1 = default, b0 = default, b1 = default, c0 = default, c1 = default, d0 = default, d1 = default;
            for (; c + 32 <= hi; c += 32)
            {
                D.Decode(w + c, out var u, out var v);
                a0 = Avx512F.FusedMultiplyAdd(u, Vector512.Load(x + c), a0); a1 = Avx512F.FusedMultiplyAdd(v, Vector512.Load(x + c + 16), a1);
                b0 = Avx512F.FusedMultiplyAdd(u, Vector512.Load(x1 + c), b0); b1 = Avx512F.FusedMultiplyAdd(v, Vector512.Load(x1 + c + 16), b1);
                c0 = Avx512F.FusedMultiplyAdd(u, Vector512.Load(x2 + c), c0); c1 = Avx512F.FusedMultiplyAdd(v, Vector512.Load(x2 + c + 16), c1);
                d0 = Avx512F.FusedMultiplyAdd(u, Vector512.Load(x3 + c), d0); d1 = Avx512F.FusedMultiplyAdd(v, Vector512.Load(x3 + c + 16), d1);
            }
            if (c < hi)
            {
                var u = Fp8x16(w + c);
                a0 = Avx512F.FusedMultiplyAdd(u, Vector512.Load(x + c), a0);
                b0 = Avx512F.FusedMultiplyAdd(u, Vector512.Load(x1 + c), b0);
                c0 = Avx512F.FusedMultiplyAdd(u, Vector512.Load(x2 + c), c0);
                d0 = Avx512F.FusedMultiplyAdd(u, Vector512.Load(x3 + c), d0);
            }
            float s = scale[b] * post;
            t0 += Vector512.Sum(a0 + a1) * s; t1 += Vector512.Sum(b0 + b1) * s;
            t2 += Vector512.Sum(c0 + c1) * s; t3 += Vector512.Sum(d0 + d1) * s;
        }
        y[0] = t0; y[ys] = t1; y[2 * ys] = t2; y[3 * ys] = t3;
    }
}
