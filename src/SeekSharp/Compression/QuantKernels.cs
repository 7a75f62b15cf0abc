using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using static TorchSharp.torch;

namespace SeekSharp.Compression;

// y = x · Wᵀ with W in Q8_0 / Q4_0 blocks, for the engine's decode matmuls (M = 1..64 rows: one to 64 sequences).
// Why hand kernels: libtorch's int8/int4 CPU kernels have other semantics (per-channel int8) or need a repacked
// weight, and TorchSharp binds neither; docs/decisions/0014-quantized-kernels.md has the measured routes.
// The chosen route (QuantKernels.Dot.cs, llama.cpp's) quantizes the activations to int8 per 32-block and takes
// integer dot products; dequantizing each block to fp32 in registers and FMA-ing it with fp32 activations
// (QuantKernels.Float.cs) measured as fast at M = 1 but up to 4x slower at M = 8 with K >= 2048 (its fp32 rows
// of x, re-read for every output row, stop fitting in L1), so it stays only as a measured option of the benchmark.
// Past 64 rows the work is compute-bound and libtorch's GEMM wins, so larger M (prefill) dequantizes row tiles of
// W and calls mm; the tile bounds the temporary memory. With autograd recording (QLoRA's frozen base) the input
// needs a gradient, which the kernels do not give, so that case decodes and calls linear, differentiable in x.
// Threads: rows of W are split across cores only for big calls: on this loaded 2-core VM the split lost at every
// decode shape measured (M = 1 and 8, up to 8192 x 384), since the second core is rarely free.

/// <summary>Matmuls against Q8_0 / Q4_0 block weights without dequantizing the whole weight.</summary>
public static unsafe partial class QuantKernels
{
    /// <summary>Rows of x above which the dequantize-a-tile + libtorch mm route is used.</summary>
    public const int MaxKernelRows = 64;

    /// <summary>Multiply-adds (M * N * K) from which rows of W are split over all cores (measured, see the decision record).</summary>
    internal static long ParallelMinMacs = 32L << 20;

    const int TileRows = 1024;

    /// <summary>Which inner loops run: llama.cpp's int8 activations (the default) or fp32 dequantize + FMA.</summary>
    internal enum Route { Float, Int8Activations }

    /// <summary>The route <see cref="Linear(Tensor, Tensor, BlockType, long, long)"/> takes (measured, docs/decisions/0014).</summary>
    internal const Route DefaultRoute = Route.Int8Activations;

    /// <summary>
    /// y = x · Wᵀ: x (…, K) of any float dtype, W as blocks [N, (K/32)*B] (BlockQuant's layout); returns float32 (…, N)
    /// on x's device (the arithmetic runs on the CPU).
    /// </summary>
    public static Tensor Linear(Tensor x, Tensor blocks, BlockType type, long n, long k) => Linear(x, blocks, type, n, k, threads: 0, DefaultRoute);

    /// <summary><see cref="Linear(Tensor, Tensor, BlockType, long, long)"/> with a forced thread count (0: by size) and route.</summary>
    internal static Tensor Linear(Tensor x, Tensor blocks, BlockType type, long n, long k, int threads, Route route = DefaultRoute)
    {
        BlockQuant.CheckBlocks(blocks, type, k, "quantized weight");
        if (blocks.shape[0] != n)
            throw new SeekSharpException($"quantized weight: expected {n} rows (out features), got [{string.Join(", ", blocks.shape)}]");
        if (x.dim() == 0 || x.shape[^1] != k)
            throw new SeekSharpException($"quantized linear: input [{string.Join(", ", x.shape)}] does not end in the weight's {k} in features");
        if (x.requires_grad && is_grad_enabled())
        {
            using var w = BlockQuant.Decode(blocks, type, k);
            using var wd = w.to(x.device);
            return nn.functional.linear(x.to(ScalarType.Float32), wd);
        }
        long m = x.numel() / k;
        var outShape = x.shape[..^1].Append(n).ToArray();
        bool stored = blocks.device_type == TorchSharp.DeviceType.CPU && blocks.is_contiguous();
        var wc = stored ? blocks : blocks.cpu().contiguous();
        Tensor y;
        try
        {
            bool direct = x.device_type == TorchSharp.DeviceType.CPU && x.is_contiguous() && x.dtype is ScalarType.Float32 or ScalarType.BFloat16;
            using var xc = direct ? null : x.detach().to(ScalarType.Float32, CPU).contiguous();
            var src = xc ?? x;
            if (m > MaxKernelRows)
            {
                using var x2 = src.reshape(m, k);
                using var flat = TiledMatmul(x2, wc, type, n, k);
                y = flat.reshape(outShape);
            }
            else
            {
                y = empty(outShape, ScalarType.Float32);
                if (m > 0) Run(src, wc, type, (int)m, (int)n, (int)k, threads, route, y);
            }
        }
        finally { if (!stored) wc.Dispose(); }
        if (x.device_type != TorchSharp.DeviceType.CPU) { var moved = y.to(x.device); y.Dispose(); y = moved; }
        return y;
    }

    static Tensor TiledMatmul(Tensor x2, Tensor w, BlockType type, long n, long k)
    {
        using var scope = NewDisposeScope();
        var xf = x2.to(ScalarType.Float32, CPU);
        var y = empty([x2.shape[0], n], ScalarType.Float32);
        for (long r = 0; r < n; r += TileRows)
        {
            long rows = Math.Min(TileRows, n - r);
            using var tile = BlockQuant.Decode(w.narrow(0, r, rows), type, k);
            using var part = y.narrow(1, r, rows);
            part.copy_(xf.mm(tile.t()));
        }
        return y.MoveToOuterDisposeScope();
    }

    // Scratch for the quantized activations, per calling thread, grown as needed and pinned so the kernels (and the
    // worker threads of one call) can hold raw pointers into it.
    [ThreadStatic] static byte[]? scratch;

    static byte* Scratch(long bytes)
    {
        if (scratch is null || scratch.LongLength < bytes)
            scratch = GC.AllocateUninitializedArray<byte>((int)Math.Max(bytes, 64 * 1024), pinned: true);
        return (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(scratch));
    }

    static void Run(Tensor x, Tensor w, BlockType type, int m, int n, int k, int threads, Route route, Tensor y)
    {
        Core(TensorMemory.Pointer<byte>(x), x.dtype == ScalarType.BFloat16, TensorMemory.Pointer<byte>(w), BlockQuant.RowBytes(type, k), type,
            m, n, k, threads, route, TensorMemory.Pointer<float>(y));
        GC.KeepAlive(x); GC.KeepAlive(w); GC.KeepAlive(y);
    }

    /// <summary>y (m × n, fp32) = x · Wᵀ for m fp32 rows of x (natural order, k apart) against block rows of W
    /// <paramref name="rowStride"/> bytes apart (a view: one expert's columns of side-by-side weights), on this thread:
    /// the fused decode path's matmul for q8_0/q4_0 weights (Modeling/Block.Fused.cs). The caller keeps W alive.</summary>
    internal static void Gemm(float* x, int m, int k, byte* w, long rowStride, BlockType type, int n, float* y) =>
        Core((byte*)x, bf16: false, w, rowStride, type, m, n, k, threads: 1, DefaultRoute, y);

    static void Core(byte* src, bool bf16, byte* w, long rowStride, BlockType type, int m, int n, int k, int threads, Route route, float* y)
    {
        int nb = k / BlockQuant.BlockSize;
        // Scratch layout. Float route: xf [m, k] fp32 (bf16 input only). Int8 route: xq [m, k] int8, xa [m, k] |xq|,
        // xd [m, nb] scales, xc [m, nb] 8 * d * sum(q), xf [k] one fp32 row.
        byte* s = Scratch(route == Route.Float ? 4L * m * k + 64 : 2L * m * k + 8L * m * nb + 4L * k + 64);
        float* xf = (float*)s;
        sbyte* xq = (sbyte*)s;
        byte* xa = s + (long)m * k;
        float* xd = (float*)(xa + (long)m * k), xc = xd + (long)m * nb;
        if (route == Route.Float)
        {
            if (bf16) Bf16ToFloat((ushort*)src, xf, m * k);
            else xf = (float*)src;
        }
        else
        {
            float* row = xc + (long)m * nb;
            for (int r = 0; r < m; r++)
            {
                float* xr = (float*)src + (long)r * k;
                if (bf16) { Bf16ToFloat((ushort*)src + (long)r * k, row, k); xr = row; }
                Quantize(xr, k, xq + (long)r * k, xa + (long)r * k, xd + (long)r * nb, xc + (long)r * nb);
            }
        }
        var a = new Args
        {
            Type = type, Route = route, W = w, RowBytes = rowStride, Xf = xf, Xq = xq, Xa = xa,
            Xd = xd, Xc = xc, M = m, Nb = nb, K = k, N = n, Y = y,
        };
        if (threads <= 0) threads = (long)m * n * k >= ParallelMinMacs ? Environment.ProcessorCount : 1;
        threads = Math.Clamp(threads, 1, Math.Max(1, n / 16));
        if (threads == 1) Rows(a, 0, n);
        else
        {
            int chunk = (n + threads - 1) / threads;
            Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t => Rows(a, t * chunk, Math.Min(n, t * chunk + chunk)));
        }
    }

    /// <summary>Everything one call's workers read: raw pointers into tensors and scratch that outlive the call.</summary>
    struct Args
    {
        public BlockType Type; public Route Route; public byte* W; public long RowBytes /* from one row of W to the next */; public float* Xf; public sbyte* Xq; public byte* Xa;
        public float* Xd; public float* Xc; public int M, Nb, K, N; public float* Y;
    }

    /// <summary>Output columns [lo, hi) for all m rows: four activation rows at a time, then the remainder one by one.</summary>
    static void Rows(in Args a, int lo, int hi)
    {
        int k = a.K, nb = a.Nb, n = a.N;
        for (int j = lo; j < hi; j++)
        {
            byte* wr = a.W + j * a.RowBytes;
            float* y = a.Y + j;
            int r = 0;
            if (a.Route == Route.Float)
            {
                for (; r + 4 <= a.M; r += 4)
                    if (a.Type == BlockType.Q8_0) FloatQ8x4(wr, a.Xf + (long)r * k, nb, k, y + (long)r * n, n);
                    else FloatQ4x4(wr, a.Xf + (long)r * k, nb, k, y + (long)r * n, n);
                for (; r < a.M; r++)
                    y[(long)r * n] = a.Type == BlockType.Q8_0 ? FloatQ8(wr, a.Xf + (long)r * k, nb) : FloatQ4(wr, a.Xf + (long)r * k, nb);
                continue;
            }
            for (; r + 4 <= a.M; r += 4)
                if (a.Type == BlockType.Q8_0) DotQ8x4(wr, a.Xq + (long)r * k, a.Xa + (long)r * k, a.Xd + (long)r * nb, nb, k, y + (long)r * n, n);
                else DotQ4x4(wr, a.Xq + (long)r * k, a.Xd + (long)r * nb, a.Xc + (long)r * nb, nb, k, y + (long)r * n, n);
            for (; r < a.M; r++)
                y[(long)r * n] = a.Type == BlockType.Q8_0
                    ? DotQ8(wr, a.Xq + (long)r * k, a.Xa + (long)r * k, a.Xd + (long)r * nb, nb)
                    : DotQ4(wr, a.Xq + (long)r * k, a.Xd + (long)r * nb, a.Xc + (long)r * nb, nb);
        }
    }

    /// <summary>One activation row to Q8_0 (d = amax / 127, round to nearest), plus |q| and 8 * d * sum(q) per block.</summary>
    internal static void Quantize(float* x, int k, sbyte* q, byte* a, float* d, float* c)
    {
        for (int b = 0; b < k / 32; b++, x += 32, q += 32, a += 32)
        {
            if (!Simd)
            {
                float amax = 0f;
                for (int j = 0; j < 32; j++) amax = MathF.Max(amax, MathF.Abs(x[j]));
                float ds = amax / 127f, ids = ds != 0f ? 1f / ds : 0f;
                int sum = 0;
                for (int j = 0; j < 32; j++) { int v = (int)MathF.Round(x[j] * ids); q[j] = (sbyte)v; a[j] = (byte)Math.Abs(v); sum += v; }
                d[b] = ds; c[b] = 8f * ds * sum;
                continue;
            }
            Vector256<float> v0 = Vector256.Load(x), v1 = Vector256.Load(x + 8), v2 = Vector256.Load(x + 16), v3 = Vector256.Load(x + 24);
            var mx = Vector256.Max(Vector256.Max(Vector256.Abs(v0), Vector256.Abs(v1)), Vector256.Max(Vector256.Abs(v2), Vector256.Abs(v3)));
            var m4 = Vector128.Max(mx.GetLower(), mx.GetUpper());
            float amaxV = MathF.Max(MathF.Max(m4[0], m4[1]), MathF.Max(m4[2], m4[3]));
            float dv = amaxV / 127f;
            var id = Vector256.Create(dv != 0f ? 1f / dv : 0f);
            var i0 = Vector256.ConvertToInt32(Vector256.Round(v0 * id));
            var i1 = Vector256.ConvertToInt32(Vector256.Round(v1 * id));
            var i2 = Vector256.ConvertToInt32(Vector256.Round(v2 * id));
            var i3 = Vector256.ConvertToInt32(Vector256.Round(v3 * id));
            var qv = Vector256.Narrow(Vector256.Narrow(i0, i1), Vector256.Narrow(i2, i3));
            qv.Store(q);
            Vector256.Abs(qv).AsByte().Store(a);
            d[b] = dv;
            c[b] = 8f * dv * Vector256.Sum(i0 + i1 + i2 + i3);
        }
    }

    static void Bf16ToFloat(ushort* src, float* dst, int k)
    {
        int j = 0;
        for (; j + 16 <= k; j += 16)
        {
            var (lo, hi) = Vector256.Widen(Vector256.Load(src + j));
            Vector256.ShiftLeft(lo, 16).AsSingle().Store(dst + j);
            Vector256.ShiftLeft(hi, 16).AsSingle().Store(dst + j + 8);
        }
        for (; j < k; j++) *(uint*)(dst + j) = (uint)src[j] << 16;
    }
}
