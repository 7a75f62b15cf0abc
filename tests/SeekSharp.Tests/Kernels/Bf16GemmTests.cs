using SeekSharp.Kernels;
using static TorchSharp.torch;

namespace SeekSharp.Tests.Kernels;

public class Bf16GemmTests
{
    static Tensor Bf16(params long[] shape) => randn(shape).to_type(ScalarType.BFloat16);

    static Tensor Reference(Tensor x, Tensor w) =>
        nn.functional.linear(x.to_type(ScalarType.Float64), w.to_type(ScalarType.Float64)).to_type(ScalarType.Float32);

    [Theory]
    [InlineData(1, 32, 1)]
    [InlineData(1, 384, 1024)]
    [InlineData(3, 96, 5)]
    [InlineData(4, 128, 64)]
    [InlineData(7, 384, 37)]
    [InlineData(64, 64, 9)]
    public void ComputesXTimesWTransposedRoundedToBf16(int m, int k, int n)
    {
        if (!Bf16Gemm.Available) return; // no AVX-512 here: the engine takes libtorch's route, tested elsewhere
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var x = Bf16(m, k);
        var w = Bf16(n, k);
        Assert.True(Bf16Gemm.Applies(x, w));
        var y = Bf16Gemm.Linear(x, w);
        Assert.Equal(ScalarType.BFloat16, y.dtype);
        Assert.Equal(new long[] { m, n }, y.shape);
        // Exact products, fp32 sums: within one bf16 step (2^-7 relative) of the exact result, plus fp32 summation slack.
        var exact = Reference(x, w);
        var err = (y.to_type(ScalarType.Float32) - exact).abs();
        var bound = exact.abs() * (1.0 / 128) + 1e-4 * Math.Sqrt(k);
        Assert.True(err.le(bound).all().item<bool>(), $"max error {err.max().item<float>()}");
    }

    [Fact]
    public void ARowGetsTheSameBitsAloneAndInABatch()
    {
        // Batch invariance (docs/decisions/0011): 9 rows run as two 4-row tiles and one row beside four weight rows;
        // each row alone runs the single-row path, 2-3 rows pairs of rows against pairs of weights. Every output must be bit for bit the same.
        if (!Bf16Gemm.Available) return;
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var x = Bf16(9, 384);
        var w = Bf16(70, 384);
        var batch = Bf16Gemm.Linear(x, w);
        for (int r = 0; r < 9; r++)
            Assert.True(Bf16Gemm.Linear(x.narrow(0, r, 1), w).equal(batch.narrow(0, r, 1)).all().item<bool>(), $"row {r} differs");
        var three = Bf16Gemm.Linear(x.narrow(0, 2, 3).view(1, 3, 384), w);            // (1, 3, K): leading dims kept
        Assert.True(three.view(3, 70).equal(batch.narrow(0, 2, 3)).all().item<bool>());
        foreach (var (first, count) in new[] { (5, 2), (1, 6), (0, 7) })                  // a pair of rows; 4 + 2; 4 + 2 + 1
            Assert.True(Bf16Gemm.Linear(x.narrow(0, first, count), w).equal(batch.narrow(0, first, count)).all().item<bool>(), $"rows {first}+{count} differ");
    }

    [Fact]
    public void OtherOperandsTakeLibtorchsLinear()
    {
        using var scope = NewDisposeScope();
        var w = Bf16(8, 48);
        var x = Bf16(2, 48);
        Assert.False(Bf16Gemm.Applies(x, w));                                          // K not a multiple of 32
        Assert.True(Bf16Gemm.Linear(x, w).equal(nn.functional.linear(x, w)).all().item<bool>());
        Assert.False(Bf16Gemm.Applies(randn(2, 64), randn(8, 64)));                   // fp32
        Assert.False(Bf16Gemm.Applies(Bf16(Bf16Gemm.MaxRows + 1, 64), Bf16(8, 64)));  // a prefill: libtorch's GEMM
        Assert.False(Bf16Gemm.Applies(Bf16(2, 64), Bf16(64, 8).t()));                 // weight not contiguous
        var needsGrad = Bf16(2, 64).requires_grad_();
        Assert.False(Bf16Gemm.Applies(needsGrad, Bf16(8, 64)));                        // autograd needs libtorch's op
    }

    [Fact]
    public void RoundsLikeLibtorchToNearestEven()
    {
        var rng = new Random(5);
        var values = new List<float> { 1f + MathF.Pow(2, -8), 1f + 3 * MathF.Pow(2, -8), -1f - MathF.Pow(2, -8), float.MaxValue,
            float.PositiveInfinity, float.NegativeInfinity, 0f, -0f, float.Epsilon, 1e-40f };
        for (int i = 0; i < 20000; i++)
        {
            float f = BitConverter.UInt32BitsToSingle((uint)rng.NextInt64(0, 1L << 32));
            if (!float.IsNaN(f)) values.Add(f);
        }
        using var t = tensor(values.ToArray());
        using var b = t.to_type(ScalarType.BFloat16);
        var raw = b.bytes.ToArray();
        var expected = Enumerable.Range(0, values.Count).Select(i => (short)(raw[2 * i] | raw[2 * i + 1] << 8)).ToArray();
        for (int i = 0; i < values.Count; i++)
            Assert.True((ushort)expected[i] == Bf16Gemm.ToBf16(values[i]), $"{values[i]:R}: libtorch {(ushort)expected[i]:X4}, ours {Bf16Gemm.ToBf16(values[i]):X4}");
        ushort nan = Bf16Gemm.ToBf16(float.NaN);
        Assert.True((nan & 0x7F80) == 0x7F80 && (nan & 0x7F) != 0, "NaN must stay NaN");
    }
}
