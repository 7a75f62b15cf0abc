using SeekSharp.Kernels;
using static TorchSharp.torch;

namespace SeekSharp.Modeling;

// The fused decode path: a frozen bf16 model on an AVX-512 CPU, decoding or prefilling at most Bf16Gemm.MaxRows
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
            else ((Mlp)mlp).ForwardFused(xn, m, y);
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
    internal bool Fusable =>
        frozenGateUp is { } gu && gu.dtype == ScalarType.BFloat16 && gu.is_contiguous() && gate_proj.InFeatures % 32 == 0
        && down_proj.FusedWeight is not null;

    /// <summary>down(silu(gate(x)) · up(x)) for m normalized rows x (natural order, fp32) into y (m × D).</summary>
    internal unsafe void ForwardFused(float* x, int m, float* y)
    {
        using var arena = Arena.Open();
        int d = gate_proj.InFeatures;
        float* xk = arena.Floats((long)m * d);
        Bf16Gemm.ToKernelOrder(x, (long)m * d, xk);
        ForwardFusedKernelOrder(xk, m, y);
    }

    /// <summary><see cref="ForwardFused"/> for rows already in Bf16Gemm's kernel order.</summary>
    internal unsafe void ForwardFusedKernelOrder(float* xk, int m, float* y)
    {
        using var arena = Arena.Open();
        int d = gate_proj.InFeatures, inter = gate_proj.OutFeatures;
        float* gu = arena.Floats((long)m * 2 * inter), act = arena.Floats((long)m * inter), actk = arena.Floats((long)m * inter);
        Bf16Gemm.Gemm(xk, m, d, TensorPointer.Of<ushort>(frozenGateUp!), d, 2 * inter, gu, 2 * inter);
        for (int r = 0; r < m; r++) DecodeMath.SwiGlu(gu + (long)r * 2 * inter, inter, act + (long)r * inter);
        Bf16Gemm.ToKernelOrder(act, (long)m * inter, actk);
        Mla.Gemm(down_proj, actk, m, y);
        GC.KeepAlive(frozenGateUp);
    }
}

public sealed partial class MoE
{
    internal bool Fusable =>
        denseGateUp is { } gu && gu.dtype == ScalarType.BFloat16 && denseDown is not null && inter % 32 == 0
        && gate.weight.dtype == ScalarType.Float32 && gate.weight.is_contiguous() && Statistics is null
        && (shared_experts is null || shared_experts.Fusable);

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

        ushort* gateUp = TensorPointer.Of<ushort>(denseGateUp!), down = TensorPointer.Of<ushort>(denseDown!);
        long downStride = (long)nExperts * inter;
        float* rowsX = arena.Floats((long)m * d), gu = arena.Floats((long)m * 2 * inter), act = arena.Floats((long)m * inter),
            actk = arena.Floats((long)m * inter), outs = arena.Floats((long)m * d);
        var members = new int[m];
        var scale = new float[m];
        for (int e = 0; e < nExperts; e++)
        {
            int c = 0;
            for (int r = 0; r < m; r++)
                for (int j = 0; j < topK; j++)
                    if (chosen[r * topK + j] == e) { members[c] = r; scale[c] = weights[r * topK + j]; c++; }
            if (c == 0) continue;
            for (int i = 0; i < c; i++) Buffer.MemoryCopy(xk + (long)members[i] * d, rowsX + (long)i * d, 4L * d, 4L * d);
            Bf16Gemm.Gemm(rowsX, c, d, gateUp + 2L * e * inter * d, d, 2 * inter, gu, 2 * inter);
            for (int i = 0; i < c; i++) DecodeMath.SwiGlu(gu + (long)i * 2 * inter, inter, act + (long)i * inter);
            Bf16Gemm.ToKernelOrder(act, (long)c * inter, actk);
            Bf16Gemm.Gemm(actk, c, inter, down + (long)e * inter, downStride, d, outs, d);
            for (int i = 0; i < c; i++) DecodeMath.Axpy(scale[i], outs + (long)i * d, y + (long)members[i] * d, d);
        }
        if (shared_experts is not null)
        {
            shared_experts.ForwardFusedKernelOrder(xk, m, outs);
            for (long i = 0; i < (long)m * d; i++) y[i] += outs[i];
        }
        GC.KeepAlive(denseGateUp); GC.KeepAlive(denseDown);
    }
}
