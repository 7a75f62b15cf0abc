using SeekSharp.Compression;

namespace SeekSharp.Kernels;

// One weight matrix as the fused decode path reads it: bf16 rows (Bf16Gemm, x in kernel order) or q8_0/q4_0 block rows
// (QuantKernels, x in natural order, quantized to int8 per 32-block as llama.cpp does) or fp8 codes with 128 x 128
// block scales (QuantKernels.Fp8.cs, fp32 x, kernel order where K is a multiple of 32), possibly a view into
// side-by-side weights (one expert's rows or columns). Raw pointers: valid while the frozen model that owns the tensors
// is, which is the length of one forward.

/// <summary>A frozen weight (N × K) for the fused decode path.</summary>
public readonly unsafe struct WeightRef
{
    readonly ushort* bf16;
    readonly byte* blocks;
    readonly BlockType type;
    readonly long stride; // elements (bf16) or bytes (blocks, fp8) from one row to the next
    readonly float* scaleInv; // fp8: (ceil(N/128), ceil(K/128)) block scales, rows scaleStride floats apart
    readonly long scaleStride;

    public int N { get; }
    public int K { get; }

    WeightRef(ushort* bf16, byte* blocks, BlockType type, long stride, int n, int k, float* scaleInv = null, long scaleStride = 0)
    {
        this.bf16 = bf16; this.blocks = blocks; this.type = type; this.stride = stride; N = n; K = k;
        this.scaleInv = scaleInv; this.scaleStride = scaleStride;
    }

    public static WeightRef Bf16(ushort* w, long stride, int n, int k) => new(w, null, default, stride, n, k);

    public static WeightRef Blocks(byte* w, long stride, BlockType type, int n, int k) => new(null, w, type, stride, n, k);

    public static WeightRef Fp8(byte* w, long stride, float* scaleInv, long scaleStride, int n, int k) => new(null, w, default, stride, n, k, scaleInv, scaleStride);

    /// <summary>y (m × N, rows ldy apart) = x · Wᵀ for m rows of x, given both in natural order (<paramref name="x"/>)
    /// and in Bf16Gemm's kernel order (<paramref name="xk"/>); each route reads the one it needs.</summary>
    public void Gemm(float* x, float* xk, int m, float* y, long ldy)
    {
        if (bf16 is not null) { Bf16Gemm.Gemm(xk, m, K, bf16, stride, N, y, ldy); return; }
        if (ldy == N) { Blocks(x, xk, m, y); return; }
        using var arena = Arena.Open();
        float* t = arena.Floats((long)m * N);
        Blocks(x, xk, m, t);
        for (int r = 0; r < m; r++) Buffer.MemoryCopy(t + (long)r * N, y + r * ldy, 4L * N, 4L * N);
    }

    void Blocks(float* x, float* xk, int m, float* y)
    {
        if (scaleInv is not null) QuantKernels.GemmFp8(x, xk, m, K, blocks, stride, scaleInv, scaleStride, N, y);
        else QuantKernels.Gemm(x, m, K, blocks, stride, type, N, y);
    }
}
