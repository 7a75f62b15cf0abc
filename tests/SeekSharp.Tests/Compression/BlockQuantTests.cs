using SeekSharp.Compression;
using static TorchSharp.torch;

namespace SeekSharp.Tests.Compression;

// Exact bytes for hand-made blocks (worked out from llama.cpp's quantize_row_q8_0_ref / quantize_row_q4_0_ref by hand,
// including the fp16 scale bytes), round-trip error bounds on random weights, and the refusals.

public sealed class BlockQuantTests
{
    static byte[] EncodeBytes(float[] row, BlockType type)
    {
        using var w = tensor(row).reshape(1, row.Length);
        using var blocks = BlockQuant.Encode(w, type);
        return blocks.data<byte>().ToArray();
    }

    [Fact]
    public void Q8_0BlockBytesAreLlamaCppsIncludingRoundHalfAwayFromZero()
    {
        var x = new float[32];
        x[0] = -254f; // amax 254: d = 2 exactly (fp16 0x4000), q = -127
        x[1] = 5f;    // 2.5 rounds away from zero to 3 (banker's rounding would give 2)
        x[2] = -5f;   // -2.5 -> -3
        x[3] = 3f;    // 1.5 -> 2
        x[4] = 1f;    // 0.5 -> 1
        var expected = new byte[34];
        expected[0] = 0x00; expected[1] = 0x40;
        expected[2] = 0x81; expected[3] = 3; expected[4] = 0xFD; expected[5] = 2; expected[6] = 1;

        Assert.Equal(expected, EncodeBytes(x, BlockType.Q8_0));
    }

    [Fact]
    public void Q8_0ScaleIsStoredAsRoundedLittleEndianHalf()
    {
        var x = new float[32];
        x[7] = 1f; // d = 1/127 = 0.0078740157 = 2^-7 * 1.00787: mantissa 8.06 -> 8, bits 0x2008
        var bytes = EncodeBytes(x, BlockType.Q8_0);
        Assert.Equal(new byte[] { 0x08, 0x20 }, bytes[..2]);
        Assert.Equal(127, (sbyte)bytes[2 + 7]);
    }

    [Fact]
    public void Q4_0BlockBytesPackLowNibbleFirstAndUseTheSignedMax()
    {
        var x = new float[32];
        x[5] = 16f;   // largest |x|, positive, first on the tie with x[16]: d = 16 / -8 = -2 (fp16 0xC000)
        x[16] = -16f; // -16 * -0.5 + 8.5 = 16.5 -> 16, clamped to 15
        x[21] = -14f; // 15.5 -> 15
        x[0] = 3f;    // -1.5 + 8.5 = 7
        x[1] = 1f;    // 8
        x[17] = -1f;  // 9
        var expected = Enumerable.Repeat((byte)0x88, 18).ToArray(); // zeros encode as 8 in both nibbles
        expected[0] = 0x00; expected[1] = 0xC0;
        expected[2 + 0] = 0xF7; // low: x[0] -> 7, high: x[16] -> 15
        expected[2 + 1] = 0x98; // low: x[1] -> 8, high: x[17] -> 9
        expected[2 + 5] = 0xF0; // low: x[5] -> 0, high: x[21] -> 15

        Assert.Equal(expected, EncodeBytes(x, BlockType.Q4_0));
    }

    [Fact]
    public void Q4_0NegativeMaxGivesAPositiveScaleAndDecodesBack()
    {
        var x = new float[32];
        x[0] = -8f; // d = -8 / -8 = 1 (fp16 0x3C00); -8 -> 0.5 -> 0
        x[1] = 7f;  // 15.5 -> 15
        x[17] = 4f; // 12.5 -> 12, high nibble of qs[1]
        var bytes = EncodeBytes(x, BlockType.Q4_0);
        Assert.Equal(new byte[] { 0x00, 0x3C, 0x80 }, bytes[..3]); // d = 1; qs[0]: low x[0] -> 0, high x[16] = 0 -> 8
        Assert.Equal(0xCF, bytes[3]); // low nibble x[1] -> 15, high nibble x[17] -> 12

        using var blocks = tensor(bytes).reshape(1, 18);
        using var back = BlockQuant.Decode(blocks, BlockType.Q4_0, 32);
        var y = back.data<float>().ToArray();
        Assert.Equal(-8f, y[0]);
        Assert.Equal(7f, y[1]);
        Assert.Equal(4f, y[17]);
        Assert.Equal(0f, y[2]);
    }

    [Theory]
    [InlineData(BlockType.Q8_0)]
    [InlineData(BlockType.Q4_0)]
    public void ZeroBlocksHaveAZeroScaleAndDecodeToZero(BlockType type)
    {
        var bytes = EncodeBytes(new float[64], type);
        Assert.Equal(2 * BlockQuant.BytesPerBlock(type), bytes.Length);
        var expected = new byte[bytes.Length];
        if (type == BlockType.Q4_0)
            for (int b = 0; b < 2; b++)
            {
                expected[b * 18 + 1] = 0x80; // d = 0 / -8 is -0 in C as here: fp16 0x8000, as llama.cpp writes it
                for (int j = 2; j < 18; j++) expected[b * 18 + j] = 0x88;
            }
        Assert.Equal(expected, bytes);

        using var blocks = tensor(bytes).reshape(1, bytes.Length);
        using var back = BlockQuant.Decode(blocks, type, 64);
        Assert.All(back.data<float>().ToArray(), v => Assert.Equal(0f, v));
    }

    [Theory]
    [InlineData(BlockType.Q8_0, 127f, 0.57f, 0.01)]  // |err| <= d/2 plus the fp16 rounding of d (127 * d * 2^-11)
    [InlineData(BlockType.Q4_0, 8f, 1.01f, 0.15)]    // the clamp at 15 costs one full step for -max
    public void RoundTripErrorStaysWithinHalfAStepPerBlock(BlockType type, float levels, float steps, double rmsRatio)
    {
        using var _ = NewDisposeScope();
        manual_seed(7);
        long n = 37, k = 96;
        var w = randn(n, k) * 0.05f;
        var back = BlockQuant.Decode(BlockQuant.Encode(w, type), type, k);
        Assert.Equal(new long[] { n, k }, back.shape);

        var amax = w.abs().reshape(n, k / 32, 32).amax([2], keepdim: true);
        var bound = (amax / levels * steps).expand(n, k / 32, 32).reshape(n, k);
        Assert.True((back - w).abs().le(bound).all().item<bool>(), $"{type}: an element is off by more than {steps} step(s) of its block");
        var ratio = ((back - w).square().mean().sqrt() / w.square().mean().sqrt()).item<float>();
        Assert.InRange(ratio, 1e-4, rmsRatio);
    }

    [Theory]
    [InlineData(BlockType.Q8_0)]
    [InlineData(BlockType.Q4_0)]
    public void EncodeAcceptsBf16AndOtherRowsAreIndependent(BlockType type)
    {
        using var _ = NewDisposeScope();
        manual_seed(3);
        var w = randn(300, 64); // big enough for the parallel path
        var fromFloat = BlockQuant.Encode(w, type);
        var fromBf16 = BlockQuant.Encode(w.to(ScalarType.BFloat16), type);
        Assert.Equal(ScalarType.Byte, fromFloat.dtype);
        Assert.Equal(new long[] { 300, 2 * BlockQuant.BytesPerBlock(type) }, fromFloat.shape);
        // bf16 rounding changes bytes, but each row must equal that row encoded alone.
        var row = BlockQuant.Encode(w.to(ScalarType.BFloat16)[150].unsqueeze(0), type);
        Assert.Equal(row[0].data<byte>().ToArray(), fromBf16[150].data<byte>().ToArray());
        Assert.Contains(fromFloat.data<byte>().ToArray(), b => b != 0);
    }

    [Theory]
    [InlineData(BlockType.Q8_0)]
    [InlineData(BlockType.Q4_0)]
    public void RefusesKNotAMultipleOf32NamingTheShape(BlockType type)
    {
        using var w = zeros(4, 40);
        var e = Assert.Throws<SeekSharpException>(() => BlockQuant.Encode(w, type));
        Assert.Contains("[4, 40]", e.Message);
        Assert.Contains("multiple of 32", e.Message);

        using var blocks = zeros([4, 3], ScalarType.Byte);
        var d = Assert.Throws<SeekSharpException>(() => BlockQuant.Decode(blocks, type, 64));
        Assert.Contains("[4, 3]", d.Message);
        Assert.Throws<SeekSharpException>(() => BlockQuant.Decode(blocks, type, 40));
    }
}
