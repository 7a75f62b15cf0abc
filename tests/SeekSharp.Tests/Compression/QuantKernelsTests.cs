using SeekSharp.Compression;
using static TorchSharp.torch;

namespace SeekSharp.Tests.Compression;

// QuantKernels.Linear against Decode + matmul. The default route computes with the exact dequantized weights, so it
// must agree to fp32 rounding (1e-5 of sum |x||w|). The int8-activation route quantizes x per 32-block, so it may
// differ by at most sum_j |w_ij| * d_x(j) / 2 (d_x = that block's amax / 127), about 1/254 of sum |x||w|: checked
// as that bound. A swapped nibble order or a wrong scale is off by the order of sum |x||w| itself, and
// ABoundThatCatchesSwappedNibbles checks that the looser bound already catches those.

public sealed class QuantKernelsTests
{
    /// <summary>x @ Decode(W)^T in float64, and the bound on |kernel - it| for x's int8 rounding.</summary>
    static (Tensor Reference, Tensor Bound) Expected(Tensor x, Tensor blocks, BlockType type, long k, QuantKernels.Route route = QuantKernels.Route.Int8Activations)
    {
        var w = BlockQuant.Decode(blocks, type, k).to(ScalarType.Float64);
        var x2 = x.reshape(-1, k).to(ScalarType.Float64);
        var reference = x2.mm(w.t());
        var step = (x2.abs().reshape(-1, k / 32, 32).amax([2], keepdim: true) / 127 / 2).expand(-1, k / 32, 32).reshape(-1, k);
        var rounding = x2.abs().mm(w.abs().t()) * 2e-6 + 1e-6;
        return (reference, route == QuantKernels.Route.Float ? rounding * 5 : step.mm(w.abs().t()) * 1.001 + rounding);
    }

    static QuantKernels.Route RouteOf(bool int8Activations) => int8Activations ? QuantKernels.Route.Int8Activations : QuantKernels.Route.Float;

    static void AssertWithinBound(Tensor y, Tensor reference, Tensor bound, string what)
    {
        var err = (y.to(ScalarType.Float64).reshape(reference.shape) - reference).abs();
        var worst = (err / bound).max().item<double>();
        Assert.True(worst <= 1.0, $"{what}: error {worst:F2}x the int8-activation bound");
    }

    [Theory]
    [InlineData(BlockType.Q8_0, 1, false)]
    [InlineData(BlockType.Q8_0, 3, false)]
    [InlineData(BlockType.Q8_0, 8, false)]
    [InlineData(BlockType.Q8_0, 65, false)]
    [InlineData(BlockType.Q4_0, 1, false)]
    [InlineData(BlockType.Q4_0, 3, false)]
    [InlineData(BlockType.Q4_0, 8, false)]
    [InlineData(BlockType.Q4_0, 65, false)]
    [InlineData(BlockType.Q8_0, 1, true)]
    [InlineData(BlockType.Q8_0, 3, true)]
    [InlineData(BlockType.Q8_0, 8, true)]
    [InlineData(BlockType.Q8_0, 65, true)]
    [InlineData(BlockType.Q4_0, 1, true)]
    [InlineData(BlockType.Q4_0, 3, true)]
    [InlineData(BlockType.Q4_0, 8, true)]
    [InlineData(BlockType.Q4_0, 65, true)]
    public void MatchesDecodeThenMatmulForEveryRowCount(BlockType type, int m, bool int8Activations)
    {
        using var _ = NewDisposeScope();
        var route = RouteOf(int8Activations);
        manual_seed(11 + m);
        long n = 37, k = 96; // odd N; 3 blocks per row, so the two-block loop has a tail
        var w = randn(n, k) * 0.1f;
        var blocks = BlockQuant.Encode(w, type);
        var x = randn(m, k);
        x[0, 5] = 9f; // an outlier, so one block's activation scale differs from the others'
        var (reference, bound) = Expected(x, blocks, type, k, route);

        var y = QuantKernels.Linear(x, blocks, type, n, k, threads: 0, route);

        Assert.Equal(ScalarType.Float32, y.dtype);
        Assert.Equal(new long[] { m, n }, y.shape);
        if (m > QuantKernels.MaxKernelRows) bound = reference.abs() * 1e-5 + 1e-5; // the tiled route is float GEMM
        AssertWithinBound(y, reference, bound, $"{type} M={m} {route}");
    }

    [Theory]
    [InlineData(BlockType.Q8_0, false)]
    [InlineData(BlockType.Q4_0, false)]
    [InlineData(BlockType.Q8_0, true)]
    [InlineData(BlockType.Q4_0, true)]
    public void TheScalarFallbackAndTwoThreadsGiveTheSameResult(BlockType type, bool int8Activations)
    {
        using var _ = NewDisposeScope();
        var route = RouteOf(int8Activations);
        manual_seed(5);
        long n = 129, k = 160;
        var blocks = BlockQuant.Encode(randn(n, k), type);
        var x = randn(6, k);
        var simd = QuantKernels.Linear(x, blocks, type, n, k, threads: 1, route);
        var twoThreads = QuantKernels.Linear(x, blocks, type, n, k, threads: 2, route);
        Assert.Equal(simd.data<float>().ToArray(), twoThreads.data<float>().ToArray()); // same rows, same order of sums
        Tensor scalar;
        QuantKernels.ForceScalar = true;
        try { scalar = QuantKernels.Linear(x, blocks, type, n, k, threads: 1, route); }
        finally { QuantKernels.ForceScalar = false; }
        var (reference, bound) = Expected(x, blocks, type, k, route);
        AssertWithinBound(scalar, reference, bound, $"{type} scalar");
        Assert.True(scalar.allclose(simd, rtol: 1e-4, atol: 1e-4));
    }

    [Theory]
    [InlineData(BlockType.Q8_0)]
    [InlineData(BlockType.Q4_0)]
    public void TakesBf16AndBatchedShapes(BlockType type)
    {
        using var _ = NewDisposeScope();
        manual_seed(9);
        long n = 24, k = 64;
        var blocks = BlockQuant.Encode(randn(n, k), type);
        var x = randn(2, 4, k).to(ScalarType.BFloat16);
        var y = QuantKernels.Linear(x, blocks, type, n, k);
        Assert.Equal(new long[] { 2, 4, n }, y.shape);
        Assert.Equal(ScalarType.Float32, y.dtype);
        var (reference, bound) = Expected(x.to(ScalarType.Float32), blocks, type, k, QuantKernels.Route.Float);
        AssertWithinBound(y, reference, bound, $"{type} bf16");
    }

    [Theory]
    [InlineData(BlockType.Q8_0, false)]
    [InlineData(BlockType.Q4_0, false)]
    [InlineData(BlockType.Q8_0, true)]
    [InlineData(BlockType.Q4_0, true)]
    public void ARowsResultDoesNotDependOnTheRowsBesideIt(BlockType type, bool int8Activations)
    {
        // docs/decisions/0011: a sequence's decode must not change with the batch it shares a step with. Rows 0..3
        // of an 8-row call run in a 4-row tile; alone, or as row 2 of 3, they run one by one: bit for bit the same.
        using var _ = NewDisposeScope();
        var route = RouteOf(int8Activations);
        manual_seed(4);
        long n = 40, k = 128;
        var blocks = BlockQuant.Encode(randn(n, k), type);
        var x = randn(8, k);
        var all = QuantKernels.Linear(x, blocks, type, n, k, threads: 1, route).data<float>().ToArray();
        for (int r = 0; r < 8; r++)
        {
            var alone = QuantKernels.Linear(x[r].unsqueeze(0), blocks, type, n, k, threads: 1, route).data<float>().ToArray();
            Assert.Equal(all[(r * (int)n)..((r + 1) * (int)n)], alone);
        }
        var three = QuantKernels.Linear(x.narrow(0, 1, 3), blocks, type, n, k, threads: 1, route).data<float>().ToArray();
        Assert.Equal(all[(3 * (int)n)..(4 * (int)n)], three[(2 * (int)n)..]);
    }

    [Fact]
    public void AnInputThatNeedsAGradientGetsOne()
    {
        // QLoRA trains adapters below a frozen quantized layer: the gradient must flow through it to x.
        using var _ = NewDisposeScope();
        manual_seed(6);
        long n = 12, k = 64;
        var blocks = BlockQuant.Encode(randn(n, k), BlockType.Q4_0);
        var x = randn(3, k).requires_grad_(true);
        var y = QuantKernels.Linear(x, blocks, BlockType.Q4_0, n, k);
        y.sum().backward();
        var expected = BlockQuant.Decode(blocks, BlockType.Q4_0, k).sum([0]).expand(3, k);
        Assert.True(x.grad!.allclose(expected, rtol: 1e-5, atol: 1e-5));
    }

    [Fact]
    public void ABoundThatCatchesSwappedNibbles()
    {
        using var _ = NewDisposeScope();
        manual_seed(2);
        long n = 16, k = 64;
        var blocks = BlockQuant.Encode(randn(n, k), BlockType.Q4_0);
        var x = randn(1, k);
        var (reference, bound) = Expected(x, blocks, BlockType.Q4_0, k);
        // The same weights read high nibble first: elements j and j + 16 of every block trade places.
        var w = BlockQuant.Decode(blocks, BlockType.Q4_0, k).reshape(n, k / 32, 2, 16).flip(2).reshape(n, k);
        var swapped = x.mm(w.t()).to(ScalarType.Float64);
        Assert.True(((swapped - reference).abs() / bound).max().item<double>() > 5);
        // And a scale read from the wrong byte order (or as bf16) is off by far more than the bound too.
        var halfScale = x.mm(BlockQuant.Decode(blocks, BlockType.Q4_0, k).t()).to(ScalarType.Float64) * 0.5;
        Assert.True(((halfScale - reference).abs() / bound).max().item<double>() > 5);
    }

    [Fact]
    public void RefusesAnInputOfAnotherWidthAndBlocksOfAnotherShape()
    {
        using var _ = NewDisposeScope();
        var blocks = BlockQuant.Encode(randn(8, 64), BlockType.Q8_0);
        var e = Assert.Throws<SeekSharpException>(() => QuantKernels.Linear(randn(1, 32), blocks, BlockType.Q8_0, 8, 64));
        Assert.Contains("[1, 32]", e.Message);
        Assert.Throws<SeekSharpException>(() => QuantKernels.Linear(randn(1, 64), blocks, BlockType.Q8_0, 9, 64));
        Assert.Throws<SeekSharpException>(() => QuantKernels.Linear(randn(1, 64), blocks, BlockType.Q4_0, 8, 64));
    }
}
