using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using static TorchSharp.torch;

namespace SeekSharp.Compression;

// y = x · Wᵀ with W in Q8_0 / Q4_0 blocks, for the engine's decode matmuls (M = 1..64 rows: one to 64 sequences).
// Why hand kernels: libtorch's int8/int4 CPU kernels have other semantics (per-channel int8) or need a repacked
// weight, and TorchSharp binds neither (see docs/decisions/0014-quantized-kernels.md for the measured routes).
// The activations are quantized per 32-block to int8 (as llama.cpp does), so each block is an integer dot
// product scaled once by d_w * d_x; that adds an activation rounding error of at most d_x / 2 per element, the
// same llama.cpp accepts. Past 64 rows the work is compute-bound and libtorch's float GEMM wins, so larger M
// dequantizes row tiles of W and calls mm (prefill; the tile bounds the temporary memory).
// Threads: rows of W are split across cores only when the weight is large enough that the hand-off (a few µs on
// this 2-core VM) is repaid; QuantBenchmark measures both and the threshold below comes from that table.

/// <summary>Matmuls against Q8_0 / Q4_0 block weights without dequantizing the whole weight.</summary>
public static unsafe partial class QuantKernels
{
    /// <summary>Rows of x above which the dequantize-a-tile + libtorch mm route is used.</summary>
    public const int MaxKernelRows = 64;

    /// <summary>Weight bytes from which rows of W are split over all cores (measured, see the decision record).</summary>
    internal static long ParallelMinBytes = 512 * 1024;

    const int TileRows = 1024;

    /// <summary>
    /// y = x · Wᵀ: x (…, K) of any float dtype, W as blocks [N, (K/32)*B] (BlockQuant's layout); returns float32 (…, N)
    /// on x's device (the arithmetic runs on the CPU).
    /// </summary>
    public static Tensor Linear(Tensor x, Tensor blocks, BlockType type, long n, long k) => Linear(x, blocks, type, n, k, threads: 0);

    /// <summary><see cref="Linear(Tensor, Tensor, BlockType, long, long)"/> with a forced thread count (0: by size); for the benchmark.</summary>
    internal static Tensor Linear(Tensor x, Tensor blocks, BlockType type, long n, long k, int threads)
    {
        BlockQuant.CheckBlocks(blocks, type, k, "quantized weight");
        if (blocks.shape[0] != n)
            throw new SeekSharpException($"quantized weight: expected {n} rows (out features), got [{string.Join(", ", blocks.shape)}]");
        if (x.dim() == 0 || x.shape[^1] != k)
            throw new SeekSharpException($"quantized linear: input [{string.Join(", ", x.shape)}] does not end in the weight's {k} in features");
        long m = x.numel() / k;
        var outShape = x.shape[..^1].Append(n).ToArray();
        var device = x.device;
        bool stored = blocks.device_type == TorchSharp.DeviceType.CPU && blocks.is_contiguous();
        var w = stored ? blocks : blocks.cpu().contiguous();
        Tensor y;
        try
        {
            using var x2 = x.detach().reshape(m, k);
            if (m > MaxKernelRows) y = TiledMatmul(x2, w, type, n, k);
            else
            {
                y = empty([m, n], ScalarType.Float32);
                if (m > 0) Run(x2, w, type, (int)m, (int)n, (int)k, threads, y);
            }
        }
        finally { if (!stored) w.Dispose(); }
        if (device.type != TorchSharp.DeviceType.CPU) { var moved = y.to(device); y.Dispose(); y = moved; }
        var shaped = y.reshape(outShape);
        y.Dispose();
        return shaped;
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

    static void Run(Tensor x2, Tensor w, BlockType type, int m, int n, int k, int threads, Tensor y)
    {
        int nb = k / BlockQuant.BlockSize;
        // Layout: xq [m, k] int8, xa [m, k] |xq|, xd [m, nb] scales, xc [m, nb] 8 * d * sum(q), xf [k] a float row.
        byte* s = Scratch(2L * m * k + 8L * m * nb + 4L * k + 64);
        sbyte* xq = (sbyte*)s;
        byte* xa = s + (long)m * k;
        float* xd = (float*)(xa + (long)m * k);
        float* xc = xd + (long)m * nb;
        float* xf = xc + (long)m * nb;
        using (var xc2 = x2.dtype is ScalarType.Float32 or ScalarType.BFloat16 ? x2.contiguous() : x2.to(ScalarType.Float32).contiguous())
        {
            bool bf16 = xc2.dtype == ScalarType.BFloat16;
            byte* src = TensorMemory.Pointer<byte>(xc2);
            for (int r = 0; r < m; r++)
            {
                float* row = (float*)(src + (long)r * k * 4);
                if (bf16) { Bf16ToFloat((ushort*)(src + (long)r * k * 2), xf, k); row = xf; }
                Quantize(row, k, xq + (long)r * k, xa + (long)r * k, xd + (long)r * nb, xc + (long)r * nb);
            }
            GC.KeepAlive(xc2);
        }
        float* yp = TensorMemory.Pointer<float>(y);
        byte* wp = TensorMemory.Pointer<byte>(w);
        long rowBytes = BlockQuant.RowBytes(type, k);
        if (threads <= 0) threads = (long)n * rowBytes >= ParallelMinBytes ? Environment.ProcessorCount : 1;
        threads = Math.Clamp(threads, 1, Math.Max(1, n / 16));
        if (threads == 1) { Rows(type, wp, rowBytes, xq, xa, xd, xc, m, nb, k, n, yp, 0, n); return; }
        nint wI = (nint)wp, xqI = (nint)xq, xaI = (nint)xa, xdI = (nint)xd, xcI = (nint)xc, yI = (nint)yp;
        int chunk = (n + threads - 1) / threads;
        Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t =>
        {
            int lo = t * chunk, hi = Math.Min(n, lo + chunk);
            if (lo < hi) Rows(type, (byte*)wI, rowBytes, (sbyte*)xqI, (byte*)xaI, (float*)xdI, (float*)xcI, m, nb, k, n, (float*)yI, lo, hi);
        });
        GC.KeepAlive(w);
    }

    /// <summary>Output columns [lo, hi) for all m rows: four activation rows at a time, then the remainder one by one.</summary>
    static void Rows(BlockType type, byte* w, long rowBytes, sbyte* xq, byte* xa, float* xd, float* xc, int m, int nb, int k, int n, float* y, int lo, int hi)
    {
        for (int j = lo; j < hi; j++)
        {
            byte* wr = w + j * rowBytes;
            int r = 0;
            for (; r + 4 <= m; r += 4)
            {
                if (type == BlockType.Q8_0) DotQ8x4(wr, xq + (long)r * k, xa + (long)r * k, xd + (long)r * nb, nb, k, y + (long)r * n + j, n);
                else DotQ4x4(wr, xq + (long)r * k, xd + (long)r * nb, xc + (long)r * nb, nb, k, y + (long)r * n + j, n);
            }
            for (; r < m; r++)
                y[(long)r * n + j] = type == BlockType.Q8_0
                    ? DotQ8(wr, xq + (long)r * k, xa + (long)r * k, xd + (long)r * nb, nb)
                    : DotQ4(wr, xq + (long)r * k, xd + (long)r * nb, xc + (long)r * nb, nb);
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
