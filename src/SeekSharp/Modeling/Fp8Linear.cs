using TorchSharp;
using static TorchSharp.torch;
using SeekSharp.Compression;

namespace SeekSharp.Modeling;

// DeepSeek-V3's FP8 training numerics for one Linear (report §3.3), simulated: all three products of y = x Wᵀ take
// operands quantized to E4M3 with fine-grained scales (Compression/Fp8Tiles), each tiled along the product's own
// contraction dimension:
//   Fprop  y  = Q1x128(x)  · Q128x128(W)ᵀ      contraction over K (x's rows, W's rows)
//   Dgrad  dx = Q1x128(dy) · Q128x128(W)       contraction over N (dy's rows, W's columns: the same blocks)
//   Wgrad  dW = Q128x1(dy)ᵀ · Q128x1(x)        contraction over the M tokens (both operands' columns)
// This CPU has no FP8 arithmetic, so the operands are dequantized (code · scale, rounded to the compute dtype: bf16
// keeps 8 significant bits, twice the 4 of an E4M3 value, so its rounding adds at most 2^-9 relative, 1/32 of an E4M3
// step) and the products run as ordinary bf16 (or fp32) matmuls, accumulating in fp32 inside libtorch's GEMM.
// THE SEAM: Product() below is the one place a GPU build would call a real FP8 GEMM (cuBLASLt / torch._scaled_mm,
// DeepGEMM) on the codes and scales instead; everything else (tiling, scales, what is saved) stays.
// Why a custom autograd Function (TorchSharp's SingleTensorFunction) and not a straight-through trick: writing
// y = f(x) + (Q(x) - x).detach() puts quantized values in the forward only; the incoming gradient dy would reach both
// backward matmuls unquantized, and Wgrad would read x in Fprop's 1x128 tiling instead of its own 128x1. A tensor hook
// could quantize dy but cannot change which x the autograd matmul saved. The Function owns both backward products.
// Saved for backward: the input x as it arrived (compute dtype, what the bf16 path saves too) and the quantized weight.
// A GPU build would keep x as FP8 codes (1 byte, not 2) — Fp8Memory computes what that would save.

/// <summary>y = x Wᵀ with E4M3 tile-scaled operands in Fprop, Dgrad and Wgrad (simulated on dequantized values).</summary>
public static class Fp8Linear
{
    /// <param name="x">(..., K) in the compute dtype.</param>
    /// <param name="w">(N, K) in the compute dtype (a working copy or a cast of the master; its gradient lands on it).</param>
    /// <returns>(..., N) in the compute dtype.</returns>
    public static Tensor Forward(Tensor x, Tensor w)
    {
        if (is_grad_enabled() && (x.requires_grad || w.requires_grad)) return Fp8LinearFunction.apply(x, w);
        using var scope = NewDisposeScope();
        var wq = Fp8Tiles.QuantizeDequantize(w, Fp8Tile.Block, w.dtype);
        return Fprop(x, wq).MoveToOuterDisposeScope();
    }

    /// <summary>When set, each Fp8 Linear's forward records the input it saves for backward (by data pointer, so gate and
    /// up, which share theirs, count once): elements, and rows x ceil(K/128) scales (what FP8 storage would add).</summary>
    [ThreadStatic] internal static Dictionary<IntPtr, (long Elements, long Scales, int ElementSize)>? SavedInputs;

    internal static unsafe void Tally(Tensor x)
    {
        if (SavedInputs is not { } d || x.device_type != DeviceType.CPU) return;
        long k = x.shape[^1], rows = x.numel() / Math.Max(1, k);
        var key = (IntPtr)Kernels.TensorPointer.Of<byte>(x);
        var entry = (x.numel(), rows * ((k + Fp8E4M3.Block - 1) / Fp8E4M3.Block), (int)x.element_size());
        if (!d.TryGetValue(key, out var old) || old.Elements < entry.Item1) d[key] = entry;
    }

    /// <summary>Fprop on an already quantized weight: x quantized per 1x128 tile along K.</summary>
    internal static Tensor Fprop(Tensor x, Tensor wq)
    {
        using var scope = NewDisposeScope();
        long k = x.shape[^1], n = wq.shape[0];
        var xq = Fp8Tiles.QuantizeDequantize(x.reshape(-1, k), Fp8Tile.Row, x.dtype);   // (M, K)
        var shape = x.shape.ToArray();
        shape[^1] = n;
        return Product(xq, wq.t()).view(shape).MoveToOuterDisposeScope();
    }

    /// <summary>a (M, K) · b (K, N) on dequantized E4M3 operands: where a real FP8 GEMM would run.</summary>
    static Tensor Product(Tensor a, Tensor b) => a.mm(b);

    internal static (Tensor? Dx, Tensor? Dw) Backward(Tensor dy, Tensor x, Tensor wq, bool needX, bool needW)
    {
        using var scope = NewDisposeScope();
        long n = wq.shape[0], k = wq.shape[1];
        var dy2 = dy.reshape(-1, n).to_type(wq.dtype);                                       // (M, N)
        Tensor? dx = null, dw = null;
        if (needX)
        {
            var dyq = Fp8Tiles.QuantizeDequantize(dy2, Fp8Tile.Row, dy2.dtype);             // 1x128 along N
            dx = Product(dyq, wq).view(x.shape).to_type(x.dtype).MoveToOuterDisposeScope();   // (..., K)
        }
        if (needW)
        {
            var dyq = Fp8Tiles.QuantizeDequantize(dy2, Fp8Tile.Column, dy2.dtype);          // 128x1 along M
            var xq = Fp8Tiles.QuantizeDequantize(x.reshape(-1, k), Fp8Tile.Column, dy2.dtype);
            dw = Product(dyq.t(), xq).MoveToOuterDisposeScope();                              // (N, K)
        }
        return (dx, dw);
    }
}

/// <summary>The autograd node of <see cref="Fp8Linear"/>: inputs (x, w), output y.</summary>
internal sealed class Fp8LinearFunction : autograd.SingleTensorFunction<Fp8LinearFunction>
{
    public override string Name => "Fp8Linear";

    // The gradients the previous backward returned. libtorch copies a returned tensor as soon as the callback returns
    // (CSharpNode::apply), so the wrappers can go then; disposing them at the next backward frees each Linear's dx and
    // dW during the backward pass instead of at the end of the micro-batch's dispose scope (which also holds them, so
    // none is ever left to a finalizer: disposing twice is a no-op). Backward on CPU runs on the calling thread.
    [ThreadStatic] static List<Tensor>? returned;

    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var x = (Tensor)vars[0];
        var w = (Tensor)vars[1];
        // wq lives in the caller's scope until the node has saved it (after forward returns), then in the node.
        var wq = Fp8Tiles.QuantizeDequantize(w, Fp8Tile.Block, w.dtype);
        ctx.save_for_backward([x, wq]);
        Fp8Linear.Tally(x);
        ctx.save_data("dx", x.requires_grad);
        ctx.save_data("dw", w.requires_grad);
        return Fp8Linear.Fprop(x, wq);
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor dy)
    {
        if (returned is { } prev) { foreach (var t in prev) t.Dispose(); prev.Clear(); }
        var saved = ctx.get_saved_variables();
        var (dx, dw) = Fp8Linear.Backward(dy, saved[0], saved[1], (bool)ctx.get_data("dx"), (bool)ctx.get_data("dw"));
        foreach (var t in saved) t.Dispose();
        returned ??= [];
        if (dx is not null) returned.Add(dx);
        if (dw is not null) returned.Add(dw);
        return [dx!, dw!];
    }
}
