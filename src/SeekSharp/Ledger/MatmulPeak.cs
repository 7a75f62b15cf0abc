// Design: "utilization" in `seek bench train` is model FLOP/s over what this machine can actually
// do, and vendor peak numbers are meaningless for a CPU slice, so we measure the practical peak: a
// square n x n matmul (2 n^3 FLOPs) in TorchSharp, after a warm-up that lets the BLAS library size
// its thread pool and buffers, taking the best of a few timed repeats (the best, not the mean,
// because noise from other processes only ever slows a repeat down).

using System.Diagnostics;
using static TorchSharp.torch;

namespace SeekSharp.Ledger;

/// <summary>Measures the achieved matmul throughput of this machine's CPU.</summary>
public static class MatmulPeak
{
    /// <summary>
    /// Achieved GFLOP/s of an n x n by n x n matmul in <paramref name="dtype"/> on the CPU: the best of
    /// <paramref name="repeats"/> timings of <paramref name="iters"/> matmuls each, after one warm-up
    /// repeat. Use a small n (e.g. 64) where speed matters more than accuracy, as in tests.
    /// </summary>
    public static double Measure(ScalarType dtype, int n = 2048, int iters = 5, int repeats = 3)
    {
        if (dtype is not (ScalarType.Float32 or ScalarType.Float64 or ScalarType.BFloat16 or ScalarType.Float16))
            throw new ArgumentException($"matmul peak needs a floating-point dtype, got {dtype}", nameof(dtype));
        ArgumentOutOfRangeException.ThrowIfLessThan(n, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(iters, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(repeats, 1);

        using var scope = NewDisposeScope();
        var a = randn(n, n, dtype: dtype, device: CPU);
        var b = randn(n, n, dtype: dtype, device: CPU);
        TimeRepeat(a, b, iters); // warm-up, not counted
        var best = double.MaxValue;
        for (var r = 0; r < repeats; r++) best = Math.Min(best, TimeRepeat(a, b, iters));
        var flops = 2.0 * n * n * (double)n * iters;
        // A tiny n can finish below the clock's resolution; one tick keeps the result finite.
        return flops / Math.Max(best, 1.0 / Stopwatch.Frequency) / 1e9;
    }

    private static double TimeRepeat(Tensor a, Tensor b, int iters)
    {
        var sw = Stopwatch.StartNew();
        for (var i = 0; i < iters; i++)
        {
            // CPU matmul is synchronous, so the timing covers the work; dispose each product at once
            // so memory stays flat however many iterations run.
            using var c = a.matmul(b);
        }
        return sw.Elapsed.TotalSeconds;
    }
}
