using SeekSharp.Compression;
using static TorchSharp.torch;

namespace SeekSharp.Tests.Compression;

public class Fp8E4M3Tests
{
    [Fact]
    public void EveryCodeDecodesAndReEncodesToItself()
    {
        for (var c = 0; c < 256; c++)
        {
            var v = Fp8E4M3.Decode((byte)c);
            Assert.Equal((byte)c, Fp8E4M3.Encode(v)); // NaN keeps its sign (0x7F, 0xFF); -0 (0x80) stays -0
        }
        Assert.True(float.IsNaN(Fp8E4M3.Decode(0x7F)) && float.IsNaN(Fp8E4M3.Decode(0xFF)));
        Assert.Equal(448f, Fp8E4M3.Decode(0x7E));
        Assert.Equal(MathF.Pow(2, -9), Fp8E4M3.Decode(0x01));           // smallest subnormal
        Assert.Equal(MathF.Pow(2, -6), Fp8E4M3.Decode(0x08));           // smallest normal
        Assert.True(float.IsNegative(Fp8E4M3.Decode(0x80)) && Fp8E4M3.Decode(0x80) == 0);
    }

    [Fact]
    public void EncodingRoundsToNearestEvenAndSaturates()
    {
        Assert.Equal(0x7E, Fp8E4M3.Encode(448f));
        Assert.Equal(0x7E, Fp8E4M3.Encode(1e6f));
        Assert.Equal(0x7E, Fp8E4M3.Encode(float.PositiveInfinity));
        Assert.Equal(0xFE, Fp8E4M3.Encode(float.NegativeInfinity));
        Assert.Equal(0x7E, Fp8E4M3.Encode(432f));                       // tie between 416 (odd) and 448 (even)
        Assert.Equal(0x7C, Fp8E4M3.Encode(392f));                       // tie between 384 (even) and 416
        Assert.Equal(0x00, Fp8E4M3.Encode(MathF.Pow(2, -10)));          // subnormal tie: 0 is even
        Assert.Equal(0x02, Fp8E4M3.Encode(3 * MathF.Pow(2, -10)));      // tie between 1 and 2 units: 2
        Assert.Equal(0x09, Fp8E4M3.Encode(1.1f * MathF.Pow(2, -6)));    // 1.125·2^-6 is nearest
        Assert.Equal(0x38, Fp8E4M3.Encode(1f));
    }

    /// <summary>libtorch's own Float8_e4m3fn (ScalarType 24, which TorchSharp does not name but passes through): the
    /// value of every conversion agrees with ours, over a sweep of magnitudes below 464 (where c10 starts turning
    /// values into NaN and we saturate instead).</summary>
    [Fact]
    public void AgreesWithLibtorchFloat8E4M3fn()
    {
        var rng = new Random(3);
        var xs = new List<float>();
        for (var c = 0; c < 256; c++) if (!float.IsNaN(Fp8E4M3.Decode((byte)c))) xs.Add(Fp8E4M3.Decode((byte)c));
        for (var i = 0; i < 20000; i++) xs.Add((float)((rng.NextDouble() * 2 - 1) * Math.Pow(2, rng.Next(-12, 9))));
        for (var c = 0; c < 255; c++)                                      // midpoints: every tie
        {
            float a = Fp8E4M3.Decode((byte)c), b = Fp8E4M3.Decode((byte)(c + 1));
            if (float.IsFinite(a) && float.IsFinite(b) && Math.Sign(a) == Math.Sign(b) && Math.Abs(b) < 448) xs.Add((a + b) / 2);
        }
        using var t = tensor(xs.ToArray());
        using var f8 = t.to_type((ScalarType)24);
        using var back = f8.to_type(ScalarType.Float32);
        var theirs = back.data<float>().ToArray();
        for (var i = 0; i < xs.Count; i++)
            Assert.True(BitConverter.SingleToUInt32Bits(theirs[i]) == BitConverter.SingleToUInt32Bits(Fp8E4M3.Decode(Fp8E4M3.Encode(xs[i]))),
                $"x = {xs[i]:R}: libtorch {theirs[i]:R}, ours {Fp8E4M3.Decode(Fp8E4M3.Encode(xs[i])):R}");
    }

    [Fact]
    public void BlocksScaleEach128SquareByItsMaximum()
    {
        using var w = randn(200, 300) * 0.05f;
        w[150, 290] = tensor(7f);                                         // one large value: only its block's scale grows
        var (codes, scale) = Fp8E4M3.EncodeBlocks(w);
        Assert.Equal([200L, 300], codes.shape);
        Assert.Equal([2L, 3], scale.shape);
        Assert.Equal(7f / 448f, scale[1, 2].item<float>(), 6);
        using var back = Fp8E4M3.DecodeBlocks(codes, scale, ScalarType.Float32);
        // E4M3 keeps 3 mantissa bits: relative error at most 2^-4 of the block's scale-relative magnitude.
        var err = (back - w).abs().max().item<float>();
        Assert.True(err <= 7f / 448f * 16, $"max error {err}");
        Assert.True((back - w).abs().narrow(0, 0, 128).narrow(1, 0, 128).max().item<float>() < 0.02f);
        codes.Dispose(); scale.Dispose();
    }
}
