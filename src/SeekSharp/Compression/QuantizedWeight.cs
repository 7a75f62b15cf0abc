using static TorchSharp.torch;

namespace SeekSharp.Compression;

// What a quantized Linear holds instead of its fp32 master (docs/decisions/0015): the stored bytes as they are in
// model.safetensors, never a dequantized copy of the whole model.
//   q8_0 / q4_0: Data is UInt8 [N, (K/32)·B], llama.cpp's blocks (BlockQuant). Rows are independent and a row is its
//                blocks in order, so weights concatenate along N by stacking rows and along K by appending whole
//                blocks per row: the fused MLP and MoE weights are built from these bytes as they are.
//   fp8:         Data is the E4M3 codes [N, K] as bytes and ScaleInv fp32 [ceil(N/128), ceil(K/128)] (DeepSeek-V3).
// The matmul goes through QuantKernels for the block formats; fp8 dequantizes its one weight to the compute dtype
// per call (correct and memory-saving; the speed of fp8 is not a goal of this format, its exchange is).

/// <summary>One quantized 2-D weight [N, K] in its stored form.</summary>
public sealed class QuantizedWeight : IDisposable
{
    public QuantType Type { get; }
    public long OutFeatures { get; }
    public long InFeatures { get; }
    /// <summary>UInt8 blocks [N, (K/32)·B] (q8_0, q4_0) or E4M3 codes [N, K] (fp8); may be a view of a larger weight.</summary>
    public Tensor Data { get; }
    /// <summary>fp8 only: fp32 [ceil(N/128), ceil(K/128)].</summary>
    public Tensor? ScaleInv { get; }

    public QuantizedWeight(QuantType type, long n, long k, Tensor data, Tensor? scaleInv = null)
    {
        Type = type;
        OutFeatures = n;
        InFeatures = k;
        Data = data;
        ScaleInv = scaleInv;
    }

    /// <summary>Bytes held (a view counts the part it covers).</summary>
    public long Bytes => Data.numel() + (ScaleInv?.numel() * 4 ?? 0);

    internal BlockType Block => Type switch
    {
        QuantType.Q8_0 => BlockType.Q8_0,
        QuantType.Q4_0 => BlockType.Q4_0,
        _ => throw new InvalidOperationException($"{Type} is not a block format"),
    };

    /// <summary>Bytes of one stored row of <paramref name="k"/> weights.</summary>
    public static long RowBytes(QuantType type, long k) => type == QuantType.Fp8 ? k : BlockQuant.RowBytes(type == QuantType.Q8_0 ? BlockType.Q8_0 : BlockType.Q4_0, k);

    /// <summary>Quantizes a float weight [N, K] (any dtype) into <paramref name="type"/>.</summary>
    public static QuantizedWeight Quantize(Tensor w, QuantType type)
    {
        long n = w.shape[0], k = w.shape[1];
        if (type != QuantType.Fp8) return new QuantizedWeight(type, n, k, BlockQuant.Encode(w, type == QuantType.Q8_0 ? BlockType.Q8_0 : BlockType.Q4_0));
        var (codes, scale) = Fp8E4M3.EncodeBlocks(w);
        return new QuantizedWeight(type, n, k, codes, scale);
    }

    /// <summary>The weight [N, K] in <paramref name="dtype"/> (a fresh tensor).</summary>
    public Tensor Dequantize(ScalarType dtype)
    {
        if (Type == QuantType.Fp8) return Fp8E4M3.DecodeBlocks(Data, ScaleInv!, dtype);
        using var w = BlockQuant.Decode(Data.contiguous(), Block, InFeatures);
        return w.to_type(dtype);
    }

    /// <summary>x Wᵀ: (..., K) → (..., N) in x's dtype. Block formats run QuantKernels on the stored bytes (no
    /// dequantized copy at decode sizes; row tiles past 64 rows); fp8 dequantizes this one weight for the call.</summary>
    public Tensor Linear(Tensor x)
    {
        using var scope = NewDisposeScope();
        if (Type == QuantType.Fp8) return nn.functional.linear(x, Dequantize(x.dtype)).MoveToOuterDisposeScope();
        var y = QuantKernels.Linear(x, Data, Block, OutFeatures, InFeatures);
        return (y.dtype == x.dtype ? y : y.to_type(x.dtype)).MoveToOuterDisposeScope();
    }

    /// <summary>Rows [start, start+count) as a view sharing this weight's bytes (fp8: whole 128-row blocks only).</summary>
    public QuantizedWeight NarrowRows(long start, long count)
    {
        if (Type != QuantType.Fp8) return new QuantizedWeight(Type, count, InFeatures, Data.narrow(0, start, count));
        if (start % Fp8E4M3.Block != 0 || (count % Fp8E4M3.Block != 0 && start + count != OutFeatures))
            throw new InvalidOperationException("fp8 rows narrow in whole 128-row blocks only");
        var blocks = Fp8E4M3.ScaleShape(count, InFeatures)[0];
        return new QuantizedWeight(Type, count, InFeatures, Data.narrow(0, start, count), ScaleInv!.narrow(0, start / Fp8E4M3.Block, blocks));
    }

    /// <summary>In features [start, start+count) as a view (block formats; whole blocks).</summary>
    public QuantizedWeight NarrowColumns(long start, long count)
    {
        if (Type == QuantType.Fp8 || start % BlockQuant.BlockSize != 0 || count % BlockQuant.BlockSize != 0)
            throw new InvalidOperationException("columns narrow in whole 32-wide blocks of a block format only");
        var per = BlockQuant.BytesPerBlock(Block);
        return new QuantizedWeight(Type, OutFeatures, count, Data.narrow(1, start / BlockQuant.BlockSize * per, count / BlockQuant.BlockSize * per));
    }

    /// <summary>Stacks block-format weights of one K along N (their rows, in order).</summary>
    public static QuantizedWeight ConcatRows(IReadOnlyList<QuantizedWeight> parts)
    {
        var type = Same(parts);
        if (parts.Any(p => p.InFeatures != parts[0].InFeatures)) throw new ArgumentException("rows concatenate only with one K", nameof(parts));
        return new QuantizedWeight(type, parts.Sum(p => p.OutFeatures), parts[0].InFeatures, cat(parts.Select(p => p.Data).ToArray(), 0));
    }

    /// <summary>Appends block-format weights of one N along K (each row's blocks, in order).</summary>
    public static QuantizedWeight ConcatColumns(IReadOnlyList<QuantizedWeight> parts)
    {
        var type = Same(parts);
        if (parts.Any(p => p.OutFeatures != parts[0].OutFeatures)) throw new ArgumentException("columns concatenate only with one N", nameof(parts));
        return new QuantizedWeight(type, parts[0].OutFeatures, parts.Sum(p => p.InFeatures), cat(parts.Select(p => p.Data).ToArray(), 1));
    }

    static QuantType Same(IReadOnlyList<QuantizedWeight> parts)
    {
        if (parts.Count == 0 || parts.Any(p => p.Type != parts[0].Type) || parts[0].Type == QuantType.Fp8)
            throw new ArgumentException("only block-format weights of one type concatenate", nameof(parts));
        return parts[0].Type;
    }

    /// <summary>Reorders the rows in place (loading rope_interleave weights). fp8 rows may move only within their
    /// 128-row block, where they share a scale; the interleaved rotary slices always do.</summary>
    public void PermuteRows(long[] rows)
    {
        if (Type == QuantType.Fp8)
            for (long i = 0; i < rows.Length; i++)
                if (rows[i] / Fp8E4M3.Block != i / Fp8E4M3.Block)
                    throw new SeekSharpException($"an fp8 weight's row {rows[i]} would move out of its 128-row scale block");
        using var index = tensor(rows, device: Data.device);
        using var reordered = Data.index_select(0, index);
        Data.copy_(reordered);
    }

    public void Dispose()
    {
        Data.Dispose();
        ScaleInv?.Dispose();
    }
}
