using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using static TorchSharp.torch;

namespace SeekSharp.Kernels;

// Raw memory and the small vector routines of the fused decode path (Modeling/*.Fused.cs): norms, rotary rotation,
// dot products and axpy against bf16 rows in natural order (cache rows, attention weights), softmax. All fp32
// arithmetic; bf16 values widen exactly (a shift), and are written rounded to nearest even.

/// <summary>The address of a CPU tensor's first element, for views too (narrowed rows of a cache or weight).</summary>
public static unsafe class TensorPointer
{
    [DllImport("LibTorchSharp")]
    static extern IntPtr THSTensor_data(IntPtr handle);

    /// <summary>&amp;t[0, ...] as T*; the caller keeps t alive and uses t's strides.</summary>
    public static T* Of<T>(Tensor t) where T : unmanaged
    {
        if (t.device_type != TorchSharp.DeviceType.CPU) throw new InvalidOperationException("TensorPointer needs a CPU tensor");
        return (T*)THSTensor_data(t.Handle);
    }

    /// <summary>Copies <paramref name="t"/>'s values as fp32 into <paramref name="dst"/> (which must hold exactly
    /// numel of them) in one memcpy. TorchSharp's data&lt;T&gt;() accessors copy element by element: 0.13-0.3 ms for
    /// 8,192 values against about 1 µs, a share of a small model's decode step.</summary>
    public static void CopyFloats(Tensor t, Span<float> dst)
    {
        using var host = t.to_type(ScalarType.Float32).cpu().contiguous();   // views of t when it is already so
        if (host.numel() != dst.Length) throw new ArgumentException($"{host.numel()} values, {dst.Length} places", nameof(dst));
        new ReadOnlySpan<float>(Of<float>(host), dst.Length).CopyTo(dst);
        GC.KeepAlive(host);
    }

    /// <summary>A new array of <paramref name="t"/>'s values as fp32 (see <see cref="CopyFloats"/>).</summary>
    public static float[] Floats(Tensor t)
    {
        var a = new float[t.numel()];
        CopyFloats(t, a);
        return a;
    }
}

/// <summary>Per-thread pinned scratch for one fused call: take floats in order; a frame gives back what it took at
/// Dispose. Chunks never move once handed out (a new chunk is added when one is full), so pointers stay valid.</summary>
public unsafe ref struct Arena
{
    const int ChunkFloats = 1 << 18;
    [ThreadStatic] static List<float[]>? chunks;
    [ThreadStatic] static int chunk;
    [ThreadStatic] static long used;
    readonly int markChunk;
    readonly long markUsed;

    Arena(int c, long u) { markChunk = c; markUsed = u; }

    /// <summary>Opens a frame; nested frames take after their parent's floats.</summary>
    public static Arena Open() => new(chunk, used);

    /// <summary>n floats, 64-byte aligned, uninitialized.</summary>
    public readonly float* Floats(long n)
    {
        chunks ??= [];
        long size = (n + 15) & ~15L;
        while (chunk < chunks.Count && used + size + 16 > chunks[chunk].LongLength) { chunk++; used = 0; }
        if (chunk == chunks.Count) { chunks.Add(GC.AllocateUninitializedArray<float>((int)Math.Max(ChunkFloats, size + 16), pinned: true)); used = 0; }
        float* b = (float*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(chunks[chunk]));
        float* p = (float*)(((nint)b + 63) & ~(nint)63) + used;
        used += size;
        return p;
    }

    /// <summary>n floats set to zero.</summary>
    public readonly float* Zeros(long n)
    {
        float* p = Floats(n);
        new Span<float>(p, checked((int)n)).Clear();
        return p;
    }

    public readonly void Dispose() { chunk = markChunk; used = markUsed; }
}

/// <summary>Vector routines on fp32 vectors and bf16 rows in natural order.</summary>
public static unsafe class DecodeMath
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> Load16(ushort* p) => Avx512F.ShiftLeftLogical(Avx512F.ConvertToVector512Int32(Vector256.Load(p)), 16).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static float Widen(ushort v) => BitConverter.UInt32BitsToSingle((uint)v << 16);

    /// <summary>Σ a[i] · b[i], b bf16.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Dot(float* a, ushort* b, int n)
    {
        var acc = Vector512<float>.Zero;
        int i = 0;
        for (; i + 16 <= n; i += 16) acc = Avx512F.FusedMultiplyAdd(Vector512.Load(a + i), Load16(b + i), acc);
        float s = Vector512.Sum(acc);
        for (; i < n; i++) s += a[i] * Widen(b[i]);
        return s;
    }

    /// <summary>Σ a[i] · b[i] in fp32.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Dot(float* a, float* b, int n)
    {
        var acc = Vector512<float>.Zero;
        int i = 0;
        for (; i + 16 <= n; i += 16) acc = Avx512F.FusedMultiplyAdd(Vector512.Load(a + i), Vector512.Load(b + i), acc);
        float s = Vector512.Sum(acc);
        for (; i < n; i++) s += a[i] * b[i];
        return s;
    }

    /// <summary>y += s · x, x bf16.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Axpy(float s, ushort* x, float* y, int n)
    {
        var sv = Vector512.Create(s);
        int i = 0;
        for (; i + 16 <= n; i += 16) Avx512F.FusedMultiplyAdd(sv, Load16(x + i), Vector512.Load(y + i)).Store(y + i);
        for (; i < n; i++) y[i] += s * Widen(x[i]);
    }

    /// <summary>y += s · x in fp32.</summary>
    public static void Axpy(float s, float* x, float* y, int n)
    {
        var sv = Vector512.Create(s);
        int i = 0;
        for (; i + 16 <= n; i += 16) Avx512F.FusedMultiplyAdd(sv, Vector512.Load(x + i), Vector512.Load(y + i)).Store(y + i);
        for (; i < n; i++) y[i] += s * x[i];
    }

    /// <summary>y = x · rsqrt(mean(x²) + eps) · w, w fp32 (an RmsNorm's weight); y may be x.</summary>
    public static void RmsNorm(float* x, float* w, double eps, float* y, int n)
    {
        float ms = Dot(x, x, n) / n;
        float r = 1f / MathF.Sqrt(ms + (float)eps);
        for (int i = 0; i < n; i++) y[i] = x[i] * r * w[i];
    }

    /// <summary>Rotate-half in place on x (dim values) with the cos/sin rows of one position (dim/2 each).</summary>
    public static void Rotate(float* x, float* cos, float* sin, int dim)
    {
        int half = dim / 2;
        for (int i = 0; i < half; i++)
        {
            float x1 = x[i], x2 = x[i + half], c = cos[i], s = sin[i];
            x[i] = x1 * c - x2 * s;
            x[i + half] = x2 * c + x1 * s;
        }
    }

    /// <summary>In-place softmax of n scores.</summary>
    public static void Softmax(float* x, int n)
    {
        float max = float.NegativeInfinity;
        for (int i = 0; i < n; i++) max = MathF.Max(max, x[i]);
        float sum = 0;
        for (int i = 0; i < n; i++) { x[i] = MathF.Exp(x[i] - max); sum += x[i]; }
        float inv = 1f / sum;
        for (int i = 0; i < n; i++) x[i] *= inv;
    }

    /// <summary>silu(g) · u for n pairs: gate values g[0..n), up values g[n..2n) (a fused gate/up projection's row).</summary>
    public static void SwiGlu(float* gu, int n, float* act)
    {
        for (int i = 0; i < n; i++)
        {
            float g = gu[i];
            act[i] = g / (1f + MathF.Exp(-g)) * gu[n + i];
        }
    }

    /// <summary>n fp32 values to bf16, rounded to nearest even.</summary>
    public static void ToBf16(float* src, ushort* dst, int n)
    {
        for (int i = 0; i < n; i++) dst[i] = Bf16Gemm.ToBf16(src[i]);
    }
}
