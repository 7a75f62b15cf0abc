using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using static TorchSharp.torch;

namespace SeekSharp.Kernels;

// y = x · Wᵀ with W in bf16 for a few rows of x: the serving engine's decode matmuls (one row per running sequence).
// Why a hand kernel: libtorch's bf16 GEMM (oneDNN) is built for big matrices; at M = 1 it measured 26-60 µs for
// projections of 128-1024 x 384-1024 that fp32 did in 7-34 µs, and 13 GB/s on 384 -> 8192 where fp32 read 27 GB/s
// (one thread, this CPU; docs/decisions/0016). A decode step makes dozens of such calls, so they dominated it.
// Arithmetic: bf16 is the top half of an fp32, so a weight widens to its exact fp32 value with one unpack against zero
// per 16 values; an unpack works per 128-bit lane (elements 0-3, 8-11, 16-19, 24-27 from the low unpack, the others
// from the high), so x is held in that same "kernel order" (Widen from bf16, ToKernelOrder from fp32) and each product
// pairs the right elements. Products are exact in fp32; each output sums its 32-element chunks in order into two fp32
// accumulators (the two unpack halves), adds them, and reduces the 16 lanes.
// Batch invariance (docs/decisions/0011): that sequence of operations is the same for an output whether its row of x is
// computed alone, in a tile of four rows, or beside four weight rows, so a sequence's logits do not depend on how many
// others share its decode step. Which route a call takes depends only on its own row count and the weight's shape.

/// <summary>bf16-weight matmuls for up to <see cref="MaxRows"/> rows on AVX-512 CPUs (the engine's decode path).</summary>
public static unsafe class Bf16Gemm
{
    /// <summary>Most rows of x a call takes; more (a prefill) is compute-bound, where libtorch's GEMM wins.</summary>
    public const int MaxRows = 64;

    /// <summary>Set by tests that compare against libtorch's own route.</summary>
    internal static bool Disabled;

    /// <summary>The CPU can run these kernels (AVX-512 F + BW) and no test has turned them off.</summary>
    public static bool Available => !Disabled && Avx512BW.IsSupported;

    /// <summary>True when <see cref="Linear"/> computes x · wᵀ itself: bf16 on the CPU, w (N, K) contiguous with K a
    /// multiple of 32, at most MaxRows rows of x, and no gradient wanted.</summary>
    public static bool Applies(Tensor x, Tensor w)
    {
        if (!Available || x.dtype != ScalarType.BFloat16 || w.dtype != ScalarType.BFloat16) return false;
        if (x.device_type != TorchSharp.DeviceType.CPU || w.device_type != TorchSharp.DeviceType.CPU || w.dim() != 2) return false;
        long k = w.size(1);
        if (k % 32 != 0 || x.size(-1) != k || x.numel() > MaxRows * k || !w.is_contiguous()) return false;
        return !is_grad_enabled() || !(x.requires_grad || w.requires_grad);
    }

    /// <summary>x · wᵀ as bf16 (..., N), rounded to nearest even from the fp32 sums, where <see cref="Applies"/>;
    /// otherwise libtorch's linear.</summary>
    public static Tensor Linear(Tensor x, Tensor w)
    {
        if (!Applies(x, w)) return nn.functional.linear(x, w);
        long k = w.size(1), n = w.size(0), m = x.numel() / k;
        var shape = x.shape;
        shape[^1] = n;
        var y = empty(shape, ScalarType.BFloat16);
        if (m == 0) return y;
        using var xc = x.is_contiguous() ? null : x.contiguous();
        var src = xc ?? x;
        using var arena = Arena.Open();
        float* xw = arena.Floats(m * k), yf = arena.Floats(m * n);
        Widen(TensorPointer.Of<ushort>(src), m * k, xw);
        Gemm(xw, (int)m, (int)k, TensorPointer.Of<ushort>(w), k, (int)n, yf, n);
        ushort* yb = TensorPointer.Of<ushort>(y);
        for (long i = 0; i < m * n; i++) yb[i] = ToBf16(yf[i]);
        GC.KeepAlive(src); GC.KeepAlive(w); GC.KeepAlive(y);
        return y;
    }

    /// <summary>count bf16 values (a multiple of 32) as fp32 in kernel order.</summary>
    public static void Widen(ushort* x, long count, float* dst)
    {
        var zero = Vector512<ushort>.Zero;
        for (long c = 0; c < count; c += 32, x += 32, dst += 32)
        {
            var v = Vector512.Load(x);
            Avx512BW.UnpackLow(zero, v).AsSingle().Store(dst);
            Avx512BW.UnpackHigh(zero, v).AsSingle().Store(dst + 16);
        }
    }

    // Where natural element i of a 32-chunk sits for each kernel position: low unpack then high unpack.
    static readonly Vector512<int> LowIndex = Vector512.Create(0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27);
    static readonly Vector512<int> HighIndex = Vector512.Create(4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31);

    /// <summary>count fp32 values (a multiple of 32) from natural order into kernel order.</summary>
    public static void ToKernelOrder(float* x, long count, float* dst)
    {
        for (long c = 0; c < count; c += 32, x += 32, dst += 32)
        {
            Vector512<float> a = Vector512.Load(x), b = Vector512.Load(x + 16);
            Avx512F.PermuteVar16x32x2(a, LowIndex, b).Store(dst);
            Avx512F.PermuteVar16x32x2(a, HighIndex, b).Store(dst + 16);
        }
    }

    /// <summary>y[r, j] = Σ xw[r, :] · w[j, :] for r &lt; m, j &lt; n, in fp32: xw in kernel order (rows k apart), w bf16 rows
    /// <paramref name="ldw"/> elements apart, y rows <paramref name="ldy"/> apart.</summary>
    public static void Gemm(float* xw, int m, int k, ushort* w, long ldw, int n, float* y, long ldy)
    {
        int r = 0;
        for (; r + 4 <= m; r += 4)
            for (int j = 0; j < n; j++)
                Dot4Rows(xw + (long)r * k, k, w + j * ldw, y + r * ldy + j, ldy);
        // Two or three rows left (a speculative step's [token, draft], an expert with few tokens): pairs of rows against
        // pairs of weight rows, so each weight is read once per pair instead of once per row.
        for (; r + 2 <= m; r += 2)
        {
            float* x0 = xw + (long)r * k, y0 = y + r * ldy;
            int j = 0;
            for (; j + 2 <= n; j += 2) Dot2x2(x0, k, w + j * ldw, ldw, y0 + j, ldy);
            for (; j < n; j++) { y0[j] = Dot(x0, w + j * ldw, k); y0[ldy + j] = Dot(x0 + k, w + j * ldw, k); }
        }
        for (; r < m; r++)
        {
            float* xr = xw + (long)r * k, yr = y + r * ldy;
            int j = 0;
            for (; j + 4 <= n; j += 4) Dot4Weights(xr, w + j * ldw, ldw, k, yr + j);
            for (; j < n; j++) yr[j] = Dot(xr, w + j * ldw, k);
        }
    }

    /// <summary>Σ xw · w over k values: the arithmetic every tile repeats exactly.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Dot(float* xw, ushort* w, int k)
    {
        var zero = Vector512<ushort>.Zero;
        Vector512<float> a0 = default, a1 = default;
        for (int c = 0; c < k; c += 32)
        {
            var v = Vector512.Load(w + c);
            a0 = Avx512F.FusedMultiplyAdd(Avx512BW.UnpackLow(zero, v).AsSingle(), Vector512.Load(xw + c), a0);
            a1 = Avx512F.FusedMultiplyAdd(Avx512BW.UnpackHigh(zero, v).AsSingle(), Vector512.Load(xw + c + 16), a1);
        }
        return Vector512.Sum(a0 + a1);
    }

    /// <summary>Four rows of x (k apart) against one weight row: y[0], y[ldy], y[2ldy], y[3ldy].</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Dot4Rows(float* x, int k, ushort* w, float* y, long ldy)
    {
        var zero = Vector512<ushort>.Zero;
        Vector512<float> a0 = default, a1 = default, b0 = default, b1 = default, c0 = default, c1 = default, d0 = default, d1 = default;
        float* x1 = x + k, x2 = x + 2 * k, x3 = x + 3 * k;
        for (int c = 0; c < k; c += 32)
        {
            var v = Vector512.Load(w + c);
            var lo = Avx512BW.UnpackLow(zero, v).AsSingle();
            var hi = Avx512BW.UnpackHigh(zero, v).AsSingle();
            a0 = Avx512F.FusedMultiplyAdd(lo, Vector512.Load(x + c), a0); a1 = Avx512F.FusedMultiplyAdd(hi, Vector512.Load(x + c + 16), a1);
            b0 = Avx512F.FusedMultiplyAdd(lo, Vector512.Load(x1 + c), b0); b1 = Avx512F.FusedMultiplyAdd(hi, Vector512.Load(x1 + c + 16), b1);
            c0 = Avx512F.FusedMultiplyAdd(lo, Vector512.Load(x2 + c), c0); c1 = Avx512F.FusedMultiplyAdd(hi, Vector512.Load(x2 + c + 16), c1);
            d0 = Avx512F.FusedMultiplyAdd(lo, Vector512.Load(x3 + c), d0); d1 = Avx512F.FusedMultiplyAdd(hi, Vector512.Load(x3 + c + 16), d1);
        }
        y[0] = Vector512.Sum(a0 + a1); y[ldy] = Vector512.Sum(b0 + b1);
        y[2 * ldy] = Vector512.Sum(c0 + c1); y[3 * ldy] = Vector512.Sum(d0 + d1);
    }

    /// <summary>Two rows of x (k apart) against two weight rows (ldw apart): y[0], y[1], y[ldy], y[ldy + 1].</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Dot2x2(float* x, int k, ushort* w, long ldw, float* y, long ldy)
    {
        var zero = Vector512<ushort>.Zero;
        Vector512<float> a0 = default, a1 = default, b0 = default, b1 = default, c0 = default, c1 = default, d0 = default, d1 = default;
        float* x1 = x + k;
        ushort* w1 = w + ldw;
        for (int c = 0; c < k; c += 32)
        {
            Vector512<float> xl = Vector512.Load(x + c), xh = Vector512.Load(x + c + 16), zl = Vector512.Load(x1 + c), zh = Vector512.Load(x1 + c + 16);
            var v = Vector512.Load(w + c);
            var lo = Avx512BW.UnpackLow(zero, v).AsSingle();
            var hi = Avx512BW.UnpackHigh(zero, v).AsSingle();
            a0 = Avx512F.FusedMultiplyAdd(lo, xl, a0); a1 = Avx512F.FusedMultiplyAdd(hi, xh, a1);
            c0 = Avx512F.FusedMultiplyAdd(lo, zl, c0); c1 = Avx512F.FusedMultiplyAdd(hi, zh, c1);
            v = Vector512.Load(w1 + c);
            lo = Avx512BW.UnpackLow(zero, v).AsSingle();
            hi = Avx512BW.UnpackHigh(zero, v).AsSingle();
            b0 = Avx512F.FusedMultiplyAdd(lo, xl, b0); b1 = Avx512F.FusedMultiplyAdd(hi, xh, b1);
            d0 = Avx512F.FusedMultiplyAdd(lo, zl, d0); d1 = Avx512F.FusedMultiplyAdd(hi, zh, d1);
        }
        y[0] = Vector512.Sum(a0 + a1); y[1] = Vector512.Sum(b0 + b1);
        y[ldy] = Vector512.Sum(c0 + c1); y[ldy + 1] = Vector512.Sum(d0 + d1);
    }

    /// <summary>One row of x against four weight rows (ldw apart): y[0..3]. Four independent chains hide the FMA latency
    /// that one row alone would wait on.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Dot4Weights(float* x, ushort* w, long ldw, int k, float* y)
    {
        var zero = Vector512<ushort>.Zero;
        Vector512<float> a0 = default, a1 = default, b0 = default, b1 = default, c0 = default, c1 = default, d0 = default, d1 = default;
        ushort* w1 = w + ldw, w2 = w + 2 * ldw, w3 = w + 3 * ldw;
        for (int c = 0; c < k; c += 32)
        {
            var xl = Vector512.Load(x + c);
            var xh = Vector512.Load(x + c + 16);
            var v = Vector512.Load(w + c);
            a0 = Avx512F.FusedMultiplyAdd(Avx512BW.UnpackLow(zero, v).AsSingle(), xl, a0); a1 = Avx512F.FusedMultiplyAdd(Avx512BW.UnpackHigh(zero, v).AsSingle(), xh, a1);
            v = Vector512.Load(w1 + c);
            b0 = Avx512F.FusedMultiplyAdd(Avx512BW.UnpackLow(zero, v).AsSingle(), xl, b0); b1 = Avx512F.FusedMultiplyAdd(Avx512BW.UnpackHigh(zero, v).AsSingle(), xh, b1);
            v = Vector512.Load(w2 + c);
            c0 = Avx512F.FusedMultiplyAdd(Avx512BW.UnpackLow(zero, v).AsSingle(), xl, c0); c1 = Avx512F.FusedMultiplyAdd(Avx512BW.UnpackHigh(zero, v).AsSingle(), xh, c1);
            v = Vector512.Load(w3 + c);
            d0 = Avx512F.FusedMultiplyAdd(Avx512BW.UnpackLow(zero, v).AsSingle(), xl, d0); d1 = Avx512F.FusedMultiplyAdd(Avx512BW.UnpackHigh(zero, v).AsSingle(), xh, d1);
        }
        y[0] = Vector512.Sum(a0 + a1); y[1] = Vector512.Sum(b0 + b1);
        y[2] = Vector512.Sum(c0 + c1); y[3] = Vector512.Sum(d0 + d1);
    }

    /// <summary>fp32 to bf16, round to nearest even; NaN stays NaN (quiet), infinities stay infinite.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort ToBf16(float f)
    {
        uint bits = BitConverter.SingleToUInt32Bits(f);
        if ((bits & 0x7FFF_FFFF) > 0x7F80_0000) return (ushort)((bits >> 16) | 0x40);
        return (ushort)((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16);
    }
}
