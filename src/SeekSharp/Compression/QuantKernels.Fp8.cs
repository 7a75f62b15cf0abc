using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SeekSharp.Compression;

// fp8 (E4M3, DeepSeek-V3's block-scaled layout) for the fused decode path: W as one byte per weight and one fp32
// scale_inv per 128 x 128 block. Each code decodes exactly in registers: its 7 magnitude bits shifted into an fp32's
// exponent and mantissa fields (E4M3's 4-bit exponent and 3-bit mantissa land where fp32's low exponent bits and top
// mantissa bits are) give the value times 2^-120, subnormals included (an fp32 subnormal then), so one multiply by
// 2^120 and the sign bit finish it; 0x7F/0xFF, E4M3's only NaN codes, become NaN. Products with the fp32 activations
// are summed per 128-block of K, and each block's sum is scaled by its scale_inv. Decoding a whole weight per call,
// the libtorch route, read 4x the bytes and made fp8 the slowest format to decode.
public static unsafe partial class QuantKernels
{
    static readonly Vector512<float> Two120 = Vector512.Create(BitConverter.UInt32BitsToSingle((127u + 120) << 23));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> Fp8x16(byte* w)
    {
        var c = Avx512F.ConvertToVector512Int32(Vector128.Load(w));
        var mag = Avx512F.ShiftLeftLogical(c & Vector512.Create(0x7F), 20);
        var sign = Avx512F.ShiftLeftLogical(c & Vector512.Create(0x80), 24);
        var v = Avx512F.Or(mag, sign).AsSingle() * Two120;
        return Vector512.ConditionalSelect(Vector512.Equals(c & Vector512.Create(0x7F), Vector512.Create(0x7F)).AsSingle(), Vector512.Create(float.NaN), v);
    }

    /// <summary>y (m × n, fp32) = x · Wᵀ for m fp32 rows of x (natural order, k apart, k a multiple of 16) against fp8 codes
    /// (rows <paramref name="rowStride"/> bytes apart) with scale_inv (ceil(n/128) × ceil(k/128), rows
    /// <paramref name="scaleStride"/> floats apart). Each output's sum runs in one fixed order, whatever m is.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void GemmFp8(float* x, int m, int k, byte* w, long rowStride, float* scaleInv, long scaleStride, int n, float* y)
    {
        int blocks = (k + Fp8E4M3.Block - 1) / Fp8E4M3.Block;
        for (int j = 0; j < n; j++)
        {
            byte* wr = w + j * rowStride;
            float* sr = scaleInv + (j / Fp8E4M3.Block) * scaleStride;
            for (int r = 0; r < m; r++)
            {
                float* xr = x + (long)r * k;
                float total = 0;
                for (int b = 0; b < blocks; b++)
                {
                    int lo = b * Fp8E4M3.Block, hi = Math.Min(k, lo + Fp8E4M3.Block);
                    Vector512<float> a0 = default, a1 = default;
                    int c = lo;
                    for (; c + 32 <= hi; c += 32)
                    {
                        a0 = Avx512F.FusedMultiplyAdd(Fp8x16(wr + c), Vector512.Load(xr + c), a0);
                        a1 = Avx512F.FusedMultiplyAdd(Fp8x16(wr + c + 16), Vector512.Load(xr + c + 16), a1);
                    }
                    for (; c < hi; c += 16) a0 = Avx512F.FusedMultiplyAdd(Fp8x16(wr + c), Vector512.Load(xr + c), a0);
                    total += Vector512.Sum(a0 + a1) * sr[b];
                }
                y[(long)r * n + j] = total;
            }
        }
    }
}
