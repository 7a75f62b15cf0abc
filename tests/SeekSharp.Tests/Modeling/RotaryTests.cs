using SeekSharp.Modeling;
using static TorchSharp.torch;

namespace SeekSharp.Tests.Modeling;

public class RotaryTests
{
    /// <summary>The tables built with cached Scalars are the ones `1.0 / pow(theta, arange(0, dim, 2) / dim)` gives, to the bit.</summary>
    [Theory]
    [InlineData(64, 512, 10000.0)]
    [InlineData(32, 4096, 50000.0)]
    public void TablesAreTheTextbookFrequenciesBitForBit(int dim, int positions, double theta)
    {
        using var rotary = new Rotary(dim, positions, theta);
        using var scope = NewDisposeScope();
        var inv = 1.0 / pow(theta, arange(0, dim, 2, dtype: ScalarType.Float64) / dim);
        var freqs = outer(arange(positions, dtype: ScalarType.Float64), inv);
        Assert.True(rotary.Cos.equal(freqs.cos().to_type(ScalarType.Float32)).all().item<bool>());
        Assert.True(rotary.Sin.equal(freqs.sin().to_type(ScalarType.Float32)).all().item<bool>());
    }
}
