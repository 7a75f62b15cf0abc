using System.Numerics;
using static TorchSharp.torch;
using SeekSharp.Kernels;

namespace SeekSharp.Compression;

// DeepSeek-V3's fine-grained FP8 quantization (report §3.3.2) as a quantize-dequantize on the CPU: every value becomes
// decode(E4M3(x / s)) · s, with one scale s = amax/448 per tile (1 for an all-zero tile) taken from the tile's own
// max-abs, so an outlier only coarsens its own 128 values. Three tile shapes cover the three products of a Linear:
// 1x128 along a row (activations and output gradients when the contraction runs along the row), 128x1 along a column
// (the same operands for Wgrad, whose contraction runs over tokens), and 128x128 blocks (weights, as Fp8E4M3.EncodeBlocks
// stores them). A tile cut short by the tensor's edge scales over the values it has: the same as padding with zeros
// (zeros change no max-abs and encode to zero), so no width needs to be a multiple of 128.
// The rounding is Fp8E4M3.Encode's, written for Vector<T> lanes: the same bit arithmetic (normal: round the mantissa to
// 3 bits, ties to even, by an integer add; subnormal: the FPU rounds on adding 2^14; saturate at 448; NaN stays NaN), and
// the same fp32 division x / s, so each value is bit for bit Decode(Encode(x / s)) · s (tested on every E4M3 tie, the
// 256 codes and random sweeps). The scalar codec stays the reference; this is its vectorized twin for hot loops only.
// Work is split in bands of tile rows (1 or 128) over the cores; bf16 in or out goes through a per-band fp32 scratch.

/// <summary>Which tile one scale covers.</summary>
public enum Fp8Tile
{
    /// <summary>1x128: 128 consecutive values of a row.</summary>
    Row,
    /// <summary>128x1: 128 consecutive values of a column.</summary>
    Column,
    /// <summary>128x128 blocks (DeepSeek-V3's weight scaling).</summary>
    Block,
}

/// <summary>Vectorized tile-scaled E4M3 quantize-dequantize of 2-D tensors.</summary>
public static unsafe class Fp8Tiles
{
    const int T = Fp8E4M3.Block;

    /// <summary>decode(E4M3(x / s)) · s per element of a 2-D CPU tensor (fp32 or bf16), s per <paramref name="tile"/>;
    /// the result is a new contiguous tensor in <paramref name="dtype"/> (fp32, or bf16 rounded to nearest even).</summary>
    public static Tensor QuantizeDequantize(Tensor x, Fp8Tile tile, ScalarType dtype)
    {
        if (x.dim() != 2) throw new ArgumentException($"expected a 2-D tensor, got [{string.Join(", ", x.shape)}]");
        if (x.dtype is not (ScalarType.Float32 or ScalarType.BFloat16) || dtype is not (ScalarType.Float32 or ScalarType.BFloat16))
            throw new ArgumentException($"fp32 or bf16 only, got {x.dtype} -> {dtype}");
        using var scope = NewDisposeScope(); // contiguous() may be a temporary: alive until the kernel is done
        var src = x.contiguous();
        var dst = empty(x.shape, dtype: dtype, device: x.device);
        long rows = x.shape[0], cols = x.shape[1];
        int bandRows = tile == Fp8Tile.Row ? 1 : T, groupCols = tile == Fp8Tile.Column ? 1 : T;
        long bands = (rows + bandRows - 1) / bandRows;
        bool inBf16 = src.dtype == ScalarType.BFloat16, outBf16 = dtype == ScalarType.BFloat16;
        byte* s = (byte*)TensorPointer.Of<byte>(src), d = (byte*)TensorPointer.Of<byte>(dst);
        int inSize = inBf16 ? 2 : 4, outSize = outBf16 ? 2 : 4;
        // Row bands are one row each: group them so a work item is worth scheduling.
        long perItem = Math.Max(1, (1 << 15) / Math.Max(1, cols * bandRows));
        long items = (bands + perItem - 1) / perItem;
        Parallel.For(0, items, item =>
        {
            // Per-thread scratch, kept: every Linear calls this three times a step, and fresh arrays each time made the
            // garbage collector run far more often (each collection is a chance for TorchSharp's finalizer races).
            var scratch = Scratch(2 * cols + (inBf16 || outBf16 ? bandRows * cols : 0));
            fixed (float* sp = scratch)
            {
                float* cm = sp, sc = sp + cols, buf = sp + 2 * cols;
                for (long band = item * perItem; band < Math.Min(bands, (item + 1) * perItem); band++)
                {
                    long r0 = band * bandRows;
                    int n = (int)Math.Min(bandRows, rows - r0);
                    long count = n * cols;
                    float* inp = inBf16 ? buf : (float*)(s + r0 * cols * inSize);
                    float* outp = outBf16 ? buf : (float*)(d + r0 * cols * outSize);
                    if (inBf16) Widen((ushort*)(s + r0 * cols * inSize), buf, count);
                    Band(inp, outp, n, (int)cols, groupCols, cm, sc);
                    if (outBf16) Narrow(buf, (ushort*)(d + r0 * cols * outSize), count);
                }
            }
        });
        return dst.MoveToOuterDisposeScope();
    }

    [ThreadStatic] static float[]? scratch;

    static float[] Scratch(long n)
    {
        if (scratch is null || scratch.Length < n) scratch = new float[Math.Max(n, 1024)];
        return scratch;
    }

    /// <summary>One band of n rows: per-column max-abs over the band, reduced over groups of columns, then every value
    /// quantize-dequantized with its group's scale. In and out may be the same buffer.</summary>
    static void Band(float* x, float* y, int n, int cols, int groupCols, float* colmax, float* scale)
    {
        int w = Vector<float>.Count;
        new Span<float>(colmax, cols).Clear();
        for (int r = 0; r < n; r++)
        {
            float* row = x + (long)r * cols;
            int c = 0;
            for (; c + w <= cols; c += w) Vector.Max(Vector.Load(colmax + c), Vector.Abs(Vector.Load(row + c))).Store(colmax + c);
            for (; c < cols; c++) colmax[c] = Math.Max(colmax[c], Math.Abs(row[c]));
        }
        for (int g = 0; g < cols; g += groupCols)
        {
            int end = Math.Min(cols, g + groupCols);
            float amax = 0;
            for (int c = g; c < end; c++) amax = Math.Max(amax, colmax[c]);
            float sg = amax > 0 ? amax / Fp8E4M3.Max : 1f;               // Fp8E4M3.EncodeBlocks' scale, the same fp32 division
            for (int c = g; c < end; c++) scale[c] = sg;
        }
        for (int r = 0; r < n; r++)
        {
            float* xr = x + (long)r * cols, yr = y + (long)r * cols;
            int c = 0;
            for (; c + w <= cols; c += w)
            {
                var sv = Vector.Load(scale + c);
                (RoundE4M3(Vector.Load(xr + c) / sv) * sv).Store(yr + c);
            }
            for (; c < cols; c++) yr[c] = Fp8E4M3.Decode(Fp8E4M3.Encode(xr[c] / scale[c])) * scale[c];
        }
    }

    /// <summary>Decode(Encode(v)) per lane: Fp8E4M3.Encode's arithmetic, returning the code's value instead of the code.</summary>
    internal static Vector<float> RoundE4M3(Vector<float> v)
    {
        var bits = Vector.AsVectorUInt32(v);
        var sign = bits & new Vector<uint>(0x80000000u);
        var a = bits & new Vector<uint>(0x7FFFFFFFu);
        // Normal: add just under half a unit of the kept 3-bit mantissa, plus the kept lowest bit (ties to even), and
        // drop the 20 low bits; a carry moves into the exponent, as in Encode.
        var odd = Vector.ShiftRightLogical(a, 20) & Vector<uint>.One;
        var normal = (a + new Vector<uint>(0x7FFFFu) + odd) & new Vector<uint>(0xFFF00000u);
        // Below 2^-6: adding 2^14 leaves 2^-9 (the subnormal step) as the last unit; the FPU rounds to nearest even.
        var magic = new Vector<float>(16384f);
        var sub = Vector.AsVectorUInt32(Vector.AsVectorSingle(a) + magic - magic);
        var r = Vector.ConditionalSelect(Vector.LessThan(a, new Vector<uint>(121u << 23)), sub, normal);
        r = Vector.ConditionalSelect(Vector.GreaterThanOrEqual(a, new Vector<uint>(0x43E00000u)), new Vector<uint>(0x43E00000u), r); // ≥ 448, ∞
        r = Vector.ConditionalSelect(Vector.GreaterThan(a, new Vector<uint>(0x7F800000u)), new Vector<uint>(0x7FC00000u), r);       // NaN
        return Vector.AsVectorSingle(r | sign);
    }

    static void Widen(ushort* src, float* dst, long n)
    {
        int w = Vector<ushort>.Count, h = w / 2;
        long i = 0;
        for (; i + w <= n; i += w)
        {
            Vector.Widen(Vector.Load(src + i), out var lo, out var hi);   // bf16 is the top half of an fp32
            Vector.AsVectorSingle(Vector.ShiftLeft(lo, 16)).Store(dst + i);
            Vector.AsVectorSingle(Vector.ShiftLeft(hi, 16)).Store(dst + i + h);
        }
        for (; i < n; i++) dst[i] = BitConverter.Int32BitsToSingle(src[i] << 16);
    }

    /// <summary>fp32 → bf16, round to nearest even (libtorch's cast; NaN stays NaN).</summary>
    static void Narrow(float* src, ushort* dst, long n)
    {
        int w = Vector<ushort>.Count, h = w / 2;
        long i = 0;
        for (; i + w <= n; i += w)
        {
            var lo = Vector.AsVectorUInt32(Vector.Load(src + i));
            var hi = Vector.AsVectorUInt32(Vector.Load(src + i + h));
            Vector.Narrow(ToBf16(lo), ToBf16(hi)).Store(dst + i);
        }
        for (; i < n; i++)
        {
            uint b = BitConverter.SingleToUInt32Bits(src[i]);
            dst[i] = float.IsNaN(src[i]) ? (ushort)((b >> 16) | 0x40) : (ushort)((b + 0x7FFF + ((b >> 16) & 1)) >> 16);
        }
    }

    static Vector<uint> ToBf16(Vector<uint> b)
    {
        var rounded = Vector.ShiftRightLogical(b + new Vector<uint>(0x7FFFu) + (Vector.ShiftRightLogical(b, 16) & Vector<uint>.One), 16);
        var nan = Vector.GreaterThan(b & new Vector<uint>(0x7FFFFFFFu), new Vector<uint>(0x7F800000u));
        return Vector.ConditionalSelect(nan, Vector.ShiftRightLogical(b, 16) | new Vector<uint>(0x40u), rounded);
    }
}
