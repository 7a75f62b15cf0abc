using SeekSharp.Compression;
using static TorchSharp.torch;

namespace SeekSharp.Tests.Compression;

// The vectorized tile quantizer against the scalar codec (Fp8E4M3, itself checked on all 256 codes and against
// libtorch's Float8_e4m3fn): every value bit for bit, for the three tile shapes, ragged edges, bf16 in and out.
public class Fp8TilesTests
{
    /// <summary>Scalar reference: per tile, s = amax/448 (1 for a zero tile), value = Decode(Encode(x / s)) · s.</summary>
    static float[] Reference(float[] x, int rows, int cols, int tileRows, int tileCols)
    {
        var y = new float[x.Length];
        for (int r0 = 0; r0 < rows; r0 += tileRows)
            for (int c0 = 0; c0 < cols; c0 += tileCols)
            {
                int r1 = Math.Min(rows, r0 + tileRows), c1 = Math.Min(cols, c0 + tileCols);
                float amax = 0;
                for (int r = r0; r < r1; r++) for (int c = c0; c < c1; c++) amax = Math.Max(amax, Math.Abs(x[r * cols + c]));
                float s = amax > 0 ? amax / 448f : 1f;
                for (int r = r0; r < r1; r++)
                    for (int c = c0; c < c1; c++) y[r * cols + c] = Fp8E4M3.Decode(Fp8E4M3.Encode(x[r * cols + c] / s)) * s;
            }
        return y;
    }

    static float[] Values(Tensor t) { using var f = t.to_type(ScalarType.Float32).contiguous(); return f.data<float>().ToArray(); }

    static void BitEqual(float[] expected, float[] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(BitConverter.SingleToUInt32Bits(expected[i]) == BitConverter.SingleToUInt32Bits(actual[i]),
                $"{what}: element {i}: expected {expected[i]:R}, got {actual[i]:R}");
    }

    /// <summary>Random values over 2^-14..2^8 with outliers, so tiles scale very differently, and a zero tile.</summary>
    static float[] Random(int n, int seed)
    {
        var rng = new Random(seed);
        var x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float)((rng.NextDouble() * 2 - 1) * Math.Pow(2, rng.Next(-14, 9)));
        for (int i = 0; i < 40; i++) x[rng.Next(n)] *= 1000;
        return x;
    }

    [Theory]
    [InlineData(Fp8Tile.Row, 1, 128)]
    [InlineData(Fp8Tile.Column, 128, 1)]
    [InlineData(Fp8Tile.Block, 128, 128)]
    public void EveryValueMatchesTheScalarCodec(Fp8Tile tile, int tileRows, int tileCols)
    {
        const int rows = 300, cols = 333;                                   // ragged tiles on both edges
        var x = Random(rows * cols, 5);
        for (int c = 0; c < 128; c++) x[c] = 0;                             // row 0's first 1x128 tile is zero
        using var t = tensor(x, [rows, cols]);
        using var q = Fp8Tiles.QuantizeDequantize(t, tile, ScalarType.Float32);
        var expected = Reference(x, rows, cols, tileRows, tileCols);
        BitEqual(expected, Values(q), $"{tile}");
        // bf16 out is libtorch's rounding of the fp32 result; bf16 in is read exactly.
        using var qb = Fp8Tiles.QuantizeDequantize(t, tile, ScalarType.BFloat16);
        using var expectedBf16 = tensor(expected, [rows, cols]).to_type(ScalarType.BFloat16);
        BitEqual(Values(expectedBf16), Values(qb), $"{tile} -> bf16");
        using var tb = t.to_type(ScalarType.BFloat16);
        using var qfromb = Fp8Tiles.QuantizeDequantize(tb, tile, ScalarType.Float32);
        BitEqual(Reference(Values(tb), rows, cols, tileRows, tileCols), Values(qfromb), $"bf16 -> {tile}");
    }

    /// <summary>With 448 in every tile the scale is exactly 1: the tile quantizer is then the codec itself, on every code,
    /// every tie between neighbouring codes (and the floats either side) and a dense sweep of magnitudes.</summary>
    [Fact]
    public void UnitScaleIsTheCodecOnEveryCodeTieAndSweep()
    {
        var xs = new List<float>();
        for (int c = 0; c < 256; c++) if (!float.IsNaN(Fp8E4M3.Decode((byte)c))) xs.Add(Fp8E4M3.Decode((byte)c));
        for (int c = 0; c < 255; c++)
        {
            float a = Fp8E4M3.Decode((byte)c), b = Fp8E4M3.Decode((byte)(c + 1));
            if (float.IsFinite(a) && float.IsFinite(b) && Math.Sign(a) == Math.Sign(b))
            {
                xs.Add((a + b) / 2);                                        // the tie
                xs.Add(BitConverter.UInt32BitsToSingle(BitConverter.SingleToUInt32Bits((a + b) / 2) + 1)); // just past it
                xs.Add(BitConverter.UInt32BitsToSingle(BitConverter.SingleToUInt32Bits((a + b) / 2) - 1)); // just before
            }
        }
        xs.AddRange([448f, 447.99f, -448f, -1e-30f, 1e-45f, 0f, -0f]);
        for (uint bits = 0x30000000; bits < 0x43E00000; bits += 4099) xs.Add(BitConverter.UInt32BitsToSingle(bits)); // 2^-31 .. 448
        int rows = (xs.Count + 126) / 127;
        var x = new float[rows * 128];
        for (int r = 0; r < rows; r++)
        {
            x[r * 128] = 448f;                                              // amax 448 → s = 1
            for (int c = 1; c < 128; c++) { int i = r * 127 + c - 1; x[r * 128 + c] = i < xs.Count ? xs[i] * (i % 2 == 0 ? 1 : -1) : 0; }
        }
        using var t = tensor(x, [rows, 128]);
        using var q = Fp8Tiles.QuantizeDequantize(t, Fp8Tile.Row, ScalarType.Float32);
        var got = Values(q);
        var expected = x.Select(v => Fp8E4M3.Decode(Fp8E4M3.Encode(v))).ToArray();
        BitEqual(expected, got, "unit scale");
    }

    /// <summary>The lanes' rounding past the range: saturation at ±448 (a tile's x / s exceeds 448 only by rounding noise,
    /// but the rule is the codec's), infinities, NaN with its sign.</summary>
    [Fact]
    public void LanesSaturateAndKeepNaNAsTheCodec()
    {
        float[] xs = [448.5f, 460f, 464f, 470f, 1e6f, float.PositiveInfinity, float.NegativeInfinity, -500f, float.NaN, -float.NaN];
        int w = System.Numerics.Vector<float>.Count;
        for (int i = 0; i < xs.Length; i += w)
        {
            var lane = new float[w];
            Array.Copy(xs, i, lane, 0, Math.Min(w, xs.Length - i));
            var got = new float[w];
            Fp8Tiles.RoundE4M3(new System.Numerics.Vector<float>(lane)).CopyTo(got);
            BitEqual(lane.Select(v => Fp8E4M3.Decode(Fp8E4M3.Encode(v))).ToArray(), got, "lanes");
        }
    }

    [Fact]
    public void BlocksEqualTheStoredFp8WeightFormat()
    {
        var w = Random(260 * 200, 9);
        using var t = tensor(w, [260, 200]);
        var (codes, scales) = Fp8E4M3.EncodeBlocks(t);
        using var _c = codes; using var _s = scales;
        using var decoded = Fp8E4M3.DecodeBlocks(codes, scales, ScalarType.Float32);
        using var q = Fp8Tiles.QuantizeDequantize(t, Fp8Tile.Block, ScalarType.Float32);
        BitEqual(Values(decoded), Values(q), "128x128 blocks");
    }

    [Fact]
    public void ZeroTilesStayZeroAndOnlyTwoDimensionsAreTaken()
    {
        using var z = zeros(3, 130);
        using var q = Fp8Tiles.QuantizeDequantize(z, Fp8Tile.Row, ScalarType.Float32);
        Assert.True(q.eq(0).all().item<bool>());
        using var three = zeros(2, 2, 2);
        Assert.Throws<ArgumentException>(() => Fp8Tiles.QuantizeDequantize(three, Fp8Tile.Row, ScalarType.Float32));
        using var half = zeros(2, 2, dtype: ScalarType.Float16);
        Assert.Throws<ArgumentException>(() => Fp8Tiles.QuantizeDequantize(half, Fp8Tile.Row, ScalarType.Float32));
    }
}
