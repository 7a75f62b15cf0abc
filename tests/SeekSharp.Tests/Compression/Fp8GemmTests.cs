using SeekSharp.Compression;

namespace SeekSharp.Tests.Compression;

// The fp8 decode kernel: against a double-precision reference on every finite code, and the claim of its header that
// scaling the activations by 2^64 (instead of each decoded weight by 2^120) changes no bit: a batch where one row is
// too large to scale takes the per-weight multiply, and every other row must come out identical to its scaled result.
// Both routes: x in natural order with K = 272 (two and a bit K blocks, a 16-wide tail: the 16-code decode), and x also
// in Bf16Gemm's kernel order with K = 320 (a multiple of 32: the 32-code decode).
public sealed unsafe class Fp8GemmTests
{
    const int N = 130; // N past one 128-row block

    static (byte[] Codes, float[] Scales) Weights(int K, int seed)
    {
        var rng = new Random(seed);
        var codes = new byte[N * K];
        for (var i = 0; i < codes.Length; i++)
        {
            byte c;
            do c = (byte)rng.Next(256); while ((c & 0x7F) == 0x7F);   // every code but the two NaNs, subnormals included
            codes[i] = c;
        }
        int kb = (K + 127) / 128, nb = (N + 127) / 128;
        var scales = new float[nb * kb];
        for (var i = 0; i < scales.Length; i++) scales[i] = MathF.Pow(2, rng.Next(-12, 4)) * (float)(0.5 + rng.NextDouble());
        return (codes, scales);
    }

    static float[] Gemm(int K, float[] x, int m, byte[] codes, float[] scales)
    {
        var y = new float[m * N];
        var xk = new float[x.Length];
        fixed (float* px = x, pk = xk, ps = scales, py = y)
        fixed (byte* pw = codes)
        {
            bool wide = K % 32 == 0;
            if (wide) SeekSharp.Kernels.Bf16Gemm.ToKernelOrder(px, x.Length, pk);
            QuantKernels.GemmFp8(px, wide ? pk : null, m, K, pw, K, ps, (K + 127) / 128, N, py);
        }
        return y;
    }

    static float[] Rows(int K, int m, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, m * K).Select(_ => (float)(rng.NextDouble() * 4 - 2)).ToArray();
    }

    [Theory]
    [InlineData(272)]
    [InlineData(320)]
    public void MatchesADoublePrecisionReferenceOnEveryFiniteCode(int K)
    {
        var (codes, scales) = Weights(K, 1);
        var x = Rows(K, 5, 2);
        var y = Gemm(K, x, 5, codes, scales);
        for (var r = 0; r < 5; r++)
            for (var j = 0; j < N; j++)
            {
                double want = 0, mag = 0;
                for (var c = 0; c < K; c++)
                {
                    double t = Fp8E4M3.Decode(codes[j * K + c]) * (double)scales[(j / 128) * ((K + 127) / 128) + c / 128] * x[r * K + c];
                    want += t; mag += Math.Abs(t);
                }
                Assert.True(Math.Abs(y[r * N + j] - want) <= 1e-6 * mag + 1e-30, $"row {r}, output {j}: {y[r * N + j]} against {want}");
            }
    }

    [Theory]
    [InlineData(272)]
    [InlineData(320)]
    public void EachRowIsBitIdenticalAloneInABatchAndBesideARowTooLargeToScale(int K)
    {
        var (codes, scales) = Weights(K, 3);
        var x = Rows(K, 6, 4);
        var batch = Gemm(K, x, 6, codes, scales);
        var huge = (float[])x.Clone();
        huge[5 * K + 7] = 3e18f;                                  // past 2^60: the whole call takes the exact path
        var exact = Gemm(K, huge, 6, codes, scales);
        for (var r = 0; r < 6; r++)
        {
            var alone = Gemm(K, x[(r * K)..((r + 1) * K)], 1, codes, scales);
            for (var j = 0; j < N; j++)
            {
                Assert.Equal(BitConverter.SingleToInt32Bits(alone[j]), BitConverter.SingleToInt32Bits(batch[r * N + j]));
                if (r < 5) Assert.Equal(BitConverter.SingleToInt32Bits(alone[j]), BitConverter.SingleToInt32Bits(exact[r * N + j]));
            }
        }
        Assert.All(exact.Skip(5 * N), v => Assert.True(float.IsFinite(v)));
    }
}
