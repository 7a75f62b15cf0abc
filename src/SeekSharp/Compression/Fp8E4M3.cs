using static TorchSharp.torch;

namespace SeekSharp.Compression;

// OCP FP8 E4M3 ("e4m3fn", libtorch's Float8_e4m3fn, safetensors' F8_E4M3): 1 sign bit, 4 exponent bits (bias 7),
// 3 mantissa bits, no infinities; exponent 0 is subnormal (m · 2^-9); S.1111.111 (0x7F, 0xFF) is NaN, so the
// largest finite value is S.1111.110 = 448. TorchSharp names no float8 type, so the bytes are ours to encode.
// Encoding rounds to nearest, ties to even, as c10's fp8e4m3fn_from_fp32_value does, with two documented departures:
//   - magnitudes above 448, and infinities, SATURATE to ±448 (c10 rounds 448..464 to 448 but turns ≥ 480 and ∞
//     into NaN); a quantizer divides by amax/448 first, so only rounding noise reaches the bound, and a NaN weight
//     would poison every logit;
//   - NaN encodes as 0x7F with its sign bit (0xFF for a negative NaN), as c10 does.
// Decoding is exact (every code is a float32). Round trip: decode then encode gives the same code for all 256
// codes except 0xFF, whose decoded NaN re-encodes with its sign as 0xFF again: i.e. all 256 round-trip; negative
// zero (0x80) decodes to -0.0f and re-encodes to 0x80.

/// <summary>Scalar FP8 E4M3 codec and DeepSeek-V3's block-scaled FP8 weights (one fp32 scale per 128x128 block).</summary>
public static class Fp8E4M3
{
    /// <summary>Largest finite magnitude.</summary>
    public const float Max = 448f;

    /// <summary>Rows and columns of one scale block (DeepSeek-V3's weight_block_size [128, 128]).</summary>
    public const int Block = 128;

    static readonly float[] Table = BuildTable();

    static float[] BuildTable()
    {
        var t = new float[256];
        for (var c = 0; c < 256; c++) t[c] = DecodeSlow((byte)c);
        return t;
    }

    static float DecodeSlow(byte code)
    {
        int sign = code >> 7, exp = (code >> 3) & 15, man = code & 7;
        // Explicit bits: .NET's float.NaN has its sign bit set on x86, which would re-encode 0x7F as 0xFF.
        if (exp == 15 && man == 7) return BitConverter.UInt32BitsToSingle(sign == 0 ? 0x7FC00000u : 0xFFC00000u);
        var magnitude = exp == 0 ? man * MathF.Pow(2, -9) : (1 + man / 8f) * MathF.Pow(2, exp - 7);
        return sign == 0 ? magnitude : -magnitude;
    }

    /// <summary>The value of one code.</summary>
    public static float Decode(byte code) => Table[code];

    /// <summary>The nearest code (ties to even); beyond ±448 saturates; NaN keeps its sign.</summary>
    public static byte Encode(float value)
    {
        unchecked
        {
            var bits = BitConverter.SingleToUInt32Bits(value);
            var sign = (byte)((bits >> 24) & 0x80);
            bits &= 0x7FFFFFFF;
            if (bits > 0x7F800000) return (byte)(sign | 0x7F);              // NaN
            if (bits >= 0x43E00000) return (byte)(sign | 0x7E);             // ≥ 448 (and ∞): saturate
            if (bits < 121u << 23)                                          // below 2^-6: subnormal
            {
                // Adding 2^14 leaves the float's last mantissa unit at 2^-9, the subnormal step: the FPU rounds
                // to nearest even, and the low bits are the code (8 = the smallest normal, 2^-6, also correct).
                const uint magic = 141u << 23;
                var sum = BitConverter.SingleToUInt32Bits(BitConverter.UInt32BitsToSingle(bits) + BitConverter.UInt32BitsToSingle(magic));
                return (byte)(sign | (byte)(sum - magic));
            }
            var odd = (bits >> 20) & 1;                                     // ties to even on the kept mantissa
            bits += (uint)((7 - 127) << 23) + 0x7FFFF + odd;
            return (byte)(sign | (byte)(bits >> 20));
        }
    }

    /// <summary>Scale-block rows and columns of an [n, k] weight: ceil(n/128) x ceil(k/128), as DeepSeek-V3 stores them.</summary>
    public static long[] ScaleShape(long n, long k) => [(n + Block - 1) / Block, (k + Block - 1) / Block];

    /// <summary>Quantizes a 2-D weight: per 128x128 block, scale_inv = amax/448 (1 for an all-zero block) and
    /// code = E4M3(w / scale_inv). Returns the codes as bytes [n, k] and scale_inv fp32 [ceil(n/128), ceil(k/128)].</summary>
    public static (Tensor Codes, Tensor ScaleInv) EncodeBlocks(Tensor weight)
    {
        if (weight.dim() != 2) throw new ArgumentException($"expected a 2-D weight, got [{string.Join(", ", weight.shape)}]");
        long n = weight.shape[0], k = weight.shape[1];
        var shape = ScaleShape(n, k);
        float[] w;
        using (var host = weight.detach().to(ScalarType.Float32, CPU).contiguous()) w = host.data<float>().ToArray();
        var codes = new byte[n * k];
        var scales = new float[shape[0] * shape[1]];
        Parallel.For(0, shape[0], br =>
        {
            long r0 = br * Block, r1 = Math.Min(n, r0 + Block);
            for (long bc = 0; bc < shape[1]; bc++)
            {
                long c0 = bc * Block, c1 = Math.Min(k, c0 + Block);
                float amax = 0;
                for (var r = r0; r < r1; r++)
                    for (var c = c0; c < c1; c++) amax = Math.Max(amax, Math.Abs(w[r * k + c]));
                var s = amax > 0 ? amax / Max : 1f;
                scales[br * shape[1] + bc] = s;
                for (var r = r0; r < r1; r++)
                    for (var c = c0; c < c1; c++) codes[r * k + c] = Encode(w[r * k + c] / s);
            }
        });
        return (tensor(codes, [n, k]), tensor(scales, shape));
    }

    /// <summary>w = decode(code) · scale_inv of its block, [n, k] in <paramref name="dtype"/>.</summary>
    public static Tensor DecodeBlocks(Tensor codes, Tensor scaleInv, ScalarType dtype)
    {
        using var scope = NewDisposeScope();
        long n = codes.shape[0], k = codes.shape[1], br = scaleInv.shape[0], bc = scaleInv.shape[1];
        var lut = LookupTable(codes.device);
        var values = lut.index_select(0, codes.flatten().to_type(ScalarType.Int64)).view(n, k);
        var scale = scaleInv.to_type(ScalarType.Float32).view(br, 1, bc, 1).expand(br, Block, bc, Block)
            .reshape(br * Block, bc * Block).narrow(0, 0, n).narrow(1, 0, k);
        return values.mul_(scale).to_type(dtype).MoveToOuterDisposeScope();
    }

    static Tensor? cpuTable;

    static Tensor LookupTable(Device device)
    {
        cpuTable ??= tensor(Table).DetachFromDisposeScope();
        return device.type == TorchSharp.DeviceType.CPU ? cpuTable.alias() : cpuTable.to(device);
    }
}
