using SeekSharp.Compression;
using SeekSharp.Kernels;
using static TorchSharp.torch;

namespace SeekSharp.Modeling;

// The fused decode path: a frozen model (bf16, q8_0, q4_0 or fp8 weights) on an AVX-512 CPU, decoding or prefilling at most Bf16Gemm.MaxRows
// tokens through a cache, runs each block as ONE call into C# (norms, projections, attention over the cache, router,
// experts) instead of about 160 libtorch ops. Measured on this machine, a TorchSharp op costs 1-8 µs of dispatch,
// allocation and finalizer bookkeeping whatever its size, and a decode step of `tiny` or `small-mla` was ~1,000 such
// ops: the step was bound by their count, not by arithmetic or memory (docs/decisions/0016).
// The MoE computes only the experts a token chose (the libtorch all-experts path reads every expert's weights, E/k
// times the bytes), grouped by expert so that rows sharing one read its weights once. Rows are computed independently
// and a row's sums run in an order fixed by its own data (experts in index order, then the shared ones), so a
// sequence's results do not depend on the others in its step (docs/decisions/0011).
// Same function as the libtorch path, not the same bits: activations stay fp32 where that path rounds to bf16 at every
// matmul; the test suite checks that both agree to bf16 rounding and pick the same greedy tokens.

/// <summary>Where each of the m = B·T tokens of a fused forward sits: its cache row and its position.</summary>
internal sealed class FusedRows
{
    public FusedRows(long b, long t, Positions pos)
    {
        Count = (int)(b * t);
        Row = new int[Count];
        Pos = new int[Count];
        for (int i = 0; i < b; i++)
            for (int j = 0; j < t; j++)
            {
                int r = i * (int)t + j;
                Row[r] = i;
                Pos[r] = (pos.Rows is null ? pos.Start : pos.Rows.Starts[i]) + j;
                MaxPos = Math.Max(MaxPos, Pos[r]);
            }
    }

    public int Count { get; }
    public int[] Row { get; }
    public int[] Pos { get; }
    public int MaxPos { get; }
}

public sealed partial class Block
{
    /// <summary>Every weight this block reads is in the form the fused path takes (see the file comment).</summary>
    internal bool Fusable =>
        (self_attn is Mla mla ? mla.Fusable : ((Mha)self_attn).Fusable)
        && (mlp is MoE moe ? moe.Fusable : ((Mlp)mlp).Fusable);

    /// <summary>h + Attn(norm(h)), then + FFN(norm(h)), for h (B, T, D) fp32 contiguous on the CPU; returns a new tensor.</summary>
    internal unsafe Tensor ForwardFused(Tensor h, FusedRows rows, Rotary rope, LayerCache cache)
    {
        int m = rows.Count, d = (int)h.size(-1);
        var output = empty(h.shape, ScalarType.Float32);
        float* hp = TensorPointer.Of<float>(h), op = TensorPointer.Of<float>(output);
        using (var arena = Arena.Open())
        {
            float* xn = arena.Floats((long)m * d), y = arena.Floats((long)m * d);
            Norm(input_layernorm, hp, xn, m, d);
            if (self_attn is Mla mla) mla.ForwardFused(xn, rows, rope, cache, y);
            else ((Mha)self_attn).ForwardFused(xn, rows, rope, cache, y);
            for (long i = 0; i < (long)m * d; i++) op[i] = hp[i] + y[i];
            Norm(post_attention_layernorm, op, xn, m, d);
            if (mlp is MoE moe) moe.ForwardFused(xn, m, y);
            else
            {
                float* xk = arena.Floats((long)m * d);
                Bf16Gemm.ToKernelOrder(xn, (long)m * d, xk);
                ((Mlp)mlp).ForwardFused(xn, xk, m, y);
            }
            for (long i = 0; i < (long)m * d; i++) op[i] += y[i];
        }
        GC.KeepAlive(h);
        return output;
    }

    static unsafe void Norm(RmsNorm norm, float* x, float* y, int m, int d)
    {
        float* w = TensorPointer.Of<float>(norm.weight);
        for (int r = 0; r < m; r++) DecodeMath.RmsNorm(x + (long)r * d, w, norm.Eps, y + (long)r * d, d);
        GC.KeepAlive(norm);
    }
}

public sealed partial class Mlp
{
    /// <summary>The fused gate/up weight (2I × D) as the fused path reads it: bf16, or the q8_0/q4_0 blocks stacked.</summary>
    unsafe WeightRef? GateUpRef =>
        frozenGateUp is { } gu && gu.dtype == ScalarType.BFloat16 && gu.is_contiguous() && gate_proj.InFeatures % 32 == 0
            ? WeightRef.Bf16(TensorPointer.Of<ushort>(gu), gate_proj.InFeatures, 2 * gate_proj.OutFeatures, gate_proj.InFeatures)
            : frozenGateUpQ is { } q && q.Data.is_contiguous()
                ? WeightRef.Blocks(TensorPointer.Of<byte>(q.Data), q.Data.stride(0), q.Block, 2 * gate_proj.OutFeatures, gate_proj.InFeatures)
                : null;

    internal bool Fusable => (GateUpRef is not null || gate_proj.FusedRef is not null && up_proj.FusedRef is not null) && down_proj.FusedRef is not null;

    /// <summary>down(silu(gate(x)) · up(x)) for m normalized rows, given in natural order (x) and in Bf16Gemm's kernel
    /// order (xk), into y (m × D).</summary>
    internal unsafe void ForwardFused(float* x, float* xk, int m, float* y)
    {
        using var arena = Arena.Open();
        int inter = gate_proj.OutFeatures;
        float* gu = arena.Floats((long)m * 2 * inter), act = arena.Floats((long)m * inter), actk = arena.Floats((long)m * inter);
        if (GateUpRef is { } fused) fused.Gemm(x, xk, m, gu, 2 * inter);
        else
        {
            // fp8 projections stay two weights (their 128-row scale blocks do not stack): gate then up into each row.
            gate_proj.FusedRef!.Value.Gemm(x, xk, m, gu, 2 * inter);
            up_proj.FusedRef!.Value.Gemm(x, xk, m, gu + inter, 2 * inter);
        }
        for (int r = 0; r < m; r++) DecodeMath.SwiGlu(gu + (long)r * 2 * inter, inter, act + (long)r * inter);
        Bf16Gemm.ToKernelOrder(act, (long)m * inter, actk);
        down_proj.ForwardFused(act, actk, m, y);
        GC.KeepAlive(frozenGateUp); GC.KeepAlive(frozenGateUpQ); GC.KeepAlive(gate_proj); GC.KeepAlive(up_proj);
    }
}

public sealed partial class MoE
{
    internal bool Fusable =>
        (denseGateUp is { } gu && gu.dtype == ScalarType.BFloat16 && denseDown is not null || quantGateUp is not null && quantDown is not null
         || !FrozenDense && experts.All(e => e.Fusable))
        && inter % 32 == 0 && gate.weight.dtype == ScalarType.Float32 && gate.weight.is_contiguous() && Statistics is null
        && (shared_experts is null || shared_experts.Fusable);

    /// <summary>Expert e's gate/up (2I × D) and down (D × I) weights: slices of the side-by-side bf16 weights or blocks.</summary>
    unsafe (WeightRef GateUp, WeightRef Down) ExpertRefs(int e, int d)
    {
        if (denseGateUp is not null)
            return (WeightRef.Bf16(TensorPointer.Of<ushort>(denseGateUp) + 2L * e * inter * d, d, 2 * inter, d),
                    WeightRef.Bf16(TensorPointer.Of<ushort>(denseDown!) + (long)e * inter, (long)nExperts * inter, d, inter));
        long upStride = quantGateUp!.Data.stride(0), downStride = quantDown!.Data.stride(0);
        long blockBytes = BlockQuant.BytesPerBlock(quantDown.Block);
        return (WeightRef.Blocks(TensorPointer.Of<byte>(quantGateUp.Data) + 2L * e * inter * upStride, upStride, quantGateUp.Block, 2 * inter, d),
                WeightRef.Blocks(TensorPointer.Of<byte>(quantDown.Data) + (long)e * inter / BlockQuant.BlockSize * blockBytes, downStride, quantDown.Block, d, inter));
    }

    /// <summary>Routed experts (only the chosen ones) plus the shared ones, for m normalized rows x into y (m × D).</summary>
    internal unsafe void ForwardFused(float* x, int m, float* y)
    {
        using var arena = Arena.Open();
        int d = (int)gate.weight.size(1);
        var chosen = new int[m * topK];
        var weights = new float[m * topK];
        gate.RouteFused(x, m, d, chosen, weights);
        float* xk = arena.Floats((long)m * d);
        Bf16Gemm.ToKernelOrder(x, (long)m * d, xk);
        new Span<float>(y, m * d).Clear();

        float* rows = arena.Floats((long)m * d), rowsK = arena.Floats((long)m * d), gu = arena.Floats((long)m * 2 * inter),
            act = arena.Floats((long)m * inter), actk = arena.Floats((long)m * inter), outs = arena.Floats((long)m * d);
        var members = new int[m];
        var scale = new float[m];
        for (int e = 0; e < nExperts; e++)
        {
            int c = 0;
            for (int r = 0; r < m; r++)
                for (int j = 0; j < topK; j++)
                    if (chosen[r * topK + j] == e) { members[c] = r; scale[c] = weights[r * topK + j]; c++; }
            if (c == 0) continue;
            for (int i = 0; i < c; i++)
            {
                Buffer.MemoryCopy(x + (long)members[i] * d, rows + (long)i * d, 4L * d, 4L * d);
                Buffer.MemoryCopy(xk + (long)members[i] * d, rowsK + (long)i * d, 4L * d, 4L * d);
            }
            if (FrozenDense)
            {
                var (gateUp, down) = ExpertRefs(e, d);
                gateUp.Gemm(rows, rowsK, c, gu, 2 * inter);
                for (int i = 0; i < c; i++) DecodeMath.SwiGlu(gu + (long)i * 2 * inter, inter, act + (long)i * inter);
                Bf16Gemm.ToKernelOrder(act, (long)c * inter, actk);
                down.Gemm(act, actk, c, outs, d);
            }
            else experts[e].ForwardFused(rows, rowsK, c, outs); // fp8 experts: their own weights, one by one
            for (int i = 0; i < c; i++) DecodeMath.Axpy(scale[i], outs + (long)i * d, y + (long)members[i] * d, d);
        }
        if (shared_experts is not null)
        {
            shared_experts.ForwardFused(x, xk, m, outs);
            for (long i = 0; i < (long)m * d; i++) y[i] += outs[i];
        }
        GC.KeepAlive(denseGateUp); GC.KeepAlive(denseDown); GC.KeepAlive(quantGateUp); GC.KeepAlive(quantDown);
    }
}
