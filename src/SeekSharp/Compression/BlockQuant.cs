using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace SeekSharp.Compression;

// llama.cpp's Q8_0 and Q4_0, byte for byte, so a GGUF export can write these bytes verbatim and the engine's
// kernels (QuantKernels) read the same layout. A weight W [N, K] (N out features, K in features, K % 32 == 0) is a
// UInt8 tensor [N, (K/32)*B]: each row is its K/32 blocks in order.
//   Q8_0, B = 34: fp16 scale d (little-endian IEEE half), then 32 int8 q;            w[j] = d * q[j].
//   Q4_0, B = 18: fp16 scale d, then 16 bytes qs; element j = (qs[j] & 15) - 8 and element j + 16 = (qs[j] >> 4) - 8.
// Encoding follows quantize_row_q8_0_ref / quantize_row_q4_0_ref exactly, including the parts that look odd: the
// quantized values are x * (1/d) with d in fp32 (not the fp16-rounded d that is stored), Q8_0 rounds half away from
// zero (C's roundf), and Q4_0 truncates x/d + 8.5 toward zero and clamps at 15. Matching the reference rounding means
// a file we write and one llama.cpp's own quantizer writes from the same fp32 weights are identical.
// Rows are independent, so encoding and decoding run Parallel.For over rows on the tensors' own memory.

/// <summary>A llama.cpp block format: 32 weights per block with one fp16 scale.</summary>
public enum BlockType
{
    /// <summary>34-byte blocks: fp16 scale, 32 int8 values.</summary>
    Q8_0,
    /// <summary>18-byte blocks: fp16 scale, 32 4-bit values (offset 8) packed low nibble first.</summary>
    Q4_0,
}

/// <summary>Encoders and decoders between float weights [N, K] and llama.cpp's Q8_0 / Q4_0 block bytes [N, (K/32)*B].</summary>
public static unsafe class BlockQuant
{
    /// <summary>Weights per block (QK8_0 = QK4_0 = 32 in llama.cpp).</summary>
    public const int BlockSize = 32;

    /// <summary>Bytes of one block: 34 for Q8_0, 18 for Q4_0.</summary>
    public static int BytesPerBlock(BlockType type) => type switch
    {
        BlockType.Q8_0 => 2 + BlockSize,
        BlockType.Q4_0 => 2 + BlockSize / 2,
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, null),
    };

    /// <summary>Bytes of one encoded row of <paramref name="k"/> weights.</summary>
    public static long RowBytes(BlockType type, long k) => k / BlockSize * BytesPerBlock(type);

    /// <summary>The lower-case name llama.cpp and `seek quantize` use ("q8_0", "q4_0").</summary>
    public static string Name(BlockType type) => type == BlockType.Q8_0 ? "q8_0" : "q4_0";

    /// <summary>Encodes a 2-D weight [N, K] (any float dtype, any device) into UInt8 blocks [N, (K/32)*B] on the CPU.</summary>
    public static Tensor Encode(Tensor w, BlockType type)
    {
        if (w.dim() != 2 || w.shape[1] % BlockSize != 0)
            throw new SeekSharpException($"{Name(type)}: cannot quantize a tensor of shape [{string.Join(", ", w.shape)}]: expected a 2-D [N, K] weight with K a multiple of {BlockSize}");
        long n = w.shape[0], k = w.shape[1], rowBytes = RowBytes(type, k);
        using var src = w.detach().to(ScalarType.Float32, CPU).contiguous();
        var dst = zeros([n, rowBytes], ScalarType.Byte);
        var from = (IntPtr)TensorMemory.Pointer<float>(src);
        var to = (IntPtr)TensorMemory.Pointer<byte>(dst);
        Parallel.For(0, n, RowOptions(n * k), r =>
        {
            var x = new ReadOnlySpan<float>((float*)from + r * k, (int)k);
            var y = new Span<byte>((byte*)to + r * rowBytes, (int)rowBytes);
            if (type == BlockType.Q8_0) EncodeRowQ8_0(x, y); else EncodeRowQ4_0(x, y);
        });
        GC.KeepAlive(src);
        return dst;
    }

    /// <summary>Decodes UInt8 blocks [N, (K/32)*B] back to float32 weights [N, K] on the CPU.</summary>
    public static Tensor Decode(Tensor blocks, BlockType type, long k)
    {
        CheckBlocks(blocks, type, k, "blocks");
        long n = blocks.shape[0], rowBytes = RowBytes(type, k);
        using var src = blocks.to(CPU).contiguous();
        var dst = empty([n, k], ScalarType.Float32);
        var from = (IntPtr)TensorMemory.Pointer<byte>(src);
        var to = (IntPtr)TensorMemory.Pointer<float>(dst);
        Parallel.For(0, n, RowOptions(n * k), r =>
        {
            var x = new ReadOnlySpan<byte>((byte*)from + r * rowBytes, (int)rowBytes);
            var y = new Span<float>((float*)to + r * k, (int)k);
            if (type == BlockType.Q8_0) DecodeRowQ8_0(x, y); else DecodeRowQ4_0(x, y);
        });
        GC.KeepAlive(src);
        return dst;
    }

    /// <summary>Refuses a blocks tensor that is not UInt8 [N, (K/32)*B] for this type and K, naming <paramref name="what"/>.</summary>
    public static void CheckBlocks(Tensor blocks, BlockType type, long k, string what)
    {
        if (k <= 0 || k % BlockSize != 0)
            throw new SeekSharpException($"{what}: {Name(type)} needs K (in features) a positive multiple of {BlockSize}, got {k}");
        if (blocks.dtype != ScalarType.Byte || blocks.dim() != 2 || blocks.shape[1] != RowBytes(type, k))
            throw new SeekSharpException($"{what}: expected {Name(type)} blocks as UInt8 [N, {RowBytes(type, k)}] for K = {k}, got {blocks.dtype} [{string.Join(", ", blocks.shape)}]");
    }

    /// <summary>quantize_row_q8_0_ref for one row (x.Length a multiple of 32).</summary>
    public static void EncodeRowQ8_0(ReadOnlySpan<float> x, Span<byte> y)
    {
        for (int b = 0; b < x.Length / BlockSize; b++)
        {
            var xs = x.Slice(b * BlockSize, BlockSize);
            var block = y.Slice(b * 34, 34);
            float amax = 0f;
            foreach (var v in xs) amax = MathF.Max(amax, MathF.Abs(v));
            float d = amax / 127f, id = d != 0f ? 1f / d : 0f;
            WriteHalf(block, d);
            for (int j = 0; j < BlockSize; j++)
                block[2 + j] = (byte)(sbyte)MathF.Round(xs[j] * id, MidpointRounding.AwayFromZero);
        }
    }

    /// <summary>quantize_row_q4_0_ref for one row (x.Length a multiple of 32).</summary>
    public static void EncodeRowQ4_0(ReadOnlySpan<float> x, Span<byte> y)
    {
        for (int b = 0; b < x.Length / BlockSize; b++)
        {
            var xs = x.Slice(b * BlockSize, BlockSize);
            var block = y.Slice(b * 18, 18);
            // The signed value of largest magnitude (the first one on a tie), so d < 0 when it is positive:
            // that maps it to -8, the end of the range that has no +8 twin, gaining half a step of resolution.
            float amax = 0f, max = 0f;
            foreach (var v in xs) if (amax < MathF.Abs(v)) { amax = MathF.Abs(v); max = v; }
            float d = max / -8f, id = d != 0f ? 1f / d : 0f;
            WriteHalf(block, d);
            for (int j = 0; j < BlockSize / 2; j++)
            {
                int lo = Math.Min(15, (int)(xs[j] * id + 8.5f)), hi = Math.Min(15, (int)(xs[j + 16] * id + 8.5f));
                block[2 + j] = (byte)(lo | hi << 4);
            }
        }
    }

    /// <summary>dequantize_row_q8_0 for one row.</summary>
    public static void DecodeRowQ8_0(ReadOnlySpan<byte> x, Span<float> y)
    {
        for (int b = 0; b < y.Length / BlockSize; b++)
        {
            var block = x.Slice(b * 34, 34);
            float d = ReadHalf(block);
            for (int j = 0; j < BlockSize; j++) y[b * BlockSize + j] = (sbyte)block[2 + j] * d;
        }
    }

    /// <summary>dequantize_row_q4_0 for one row.</summary>
    public static void DecodeRowQ4_0(ReadOnlySpan<byte> x, Span<float> y)
    {
        for (int b = 0; b < y.Length / BlockSize; b++)
        {
            var block = x.Slice(b * 18, 18);
            float d = ReadHalf(block);
            for (int j = 0; j < BlockSize / 2; j++)
            {
                y[b * BlockSize + j] = ((block[2 + j] & 0x0F) - 8) * d;
                y[b * BlockSize + j + 16] = ((block[2 + j] >> 4) - 8) * d;
            }
        }
    }

    // .NET's float -> Half conversion rounds to nearest even, as GGML_FP32_TO_FP16 (F16C's _cvtss_sh) does.
    static void WriteHalf(Span<byte> block, float d)
    {
        ushort bits = BitConverter.HalfToUInt16Bits((Half)d);
        block[0] = (byte)bits;
        block[1] = (byte)(bits >> 8);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float ReadHalf(ReadOnlySpan<byte> block) => (float)BitConverter.UInt16BitsToHalf((ushort)(block[0] | block[1] << 8));

    // Parallel hand-off costs tens of microseconds: not worth it for a small tensor.
    static ParallelOptions RowOptions(long elements) => new() { MaxDegreeOfParallelism = elements < (1 << 16) ? 1 : Environment.ProcessorCount };
}

/// <summary>Raw access to a contiguous CPU tensor's memory (libtorch owns it and never moves it).</summary>
internal static unsafe class TensorMemory
{
    /// <summary>The first element of <paramref name="t"/>, which must be contiguous on the CPU; keep t alive while using it.</summary>
    public static T* Pointer<T>(Tensor t) where T : unmanaged
    {
        if (t.device_type != TorchSharp.DeviceType.CPU || !t.is_contiguous())
            throw new InvalidOperationException("TensorMemory.Pointer needs a contiguous CPU tensor");
        if (t.numel() == 0) return null;
        return (T*)Unsafe.AsPointer(ref MemoryMarshal.GetReference(t.bytes));
    }
}
