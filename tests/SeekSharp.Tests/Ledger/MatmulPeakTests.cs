using SeekSharp.Ledger;
using static TorchSharp.torch;

namespace SeekSharp.Tests.Ledger;

public class MatmulPeakTests
{
    [Fact]
    public void MatmulPeakIsPositiveAndFinite()
    {
        var gflops = MatmulPeak.Measure(ScalarType.Float32, n: 64, iters: 2, repeats: 2);
        Assert.True(double.IsFinite(gflops) && gflops > 0, $"got {gflops}");
    }
}
