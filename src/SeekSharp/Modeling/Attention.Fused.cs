using SeekSharp.Kernels;
using static TorchSharp.torch;

namespace SeekSharp.Modeling;

// The fused decode path of the two attention kinds (see Block.Fused.cs for when it runs and why). Same function as
// Forward with a cache: projections through Bf16Gemm, the norms and rotary rotation in fp32, keys and values written
// to the cache in its bf16 at each token's position first, then each token attends every cached position up to its
// own. Projections go through Linear.ForwardFused (bf16 or q8_0/q4_0 weights). Activations stay fp32 between the steps where the libtorch path rounds them to bf16, so the two paths agree
// to bf16 rounding, not bit for bit; each row is computed on its own, so the fused path is batch-invariant.

public sealed partial class Mla
{
    /// <summary>Every projection is frozen bf16 or q8_0/q4_0 with in-features a multiple of 32, and kv_b_proj (read as a
    /// matrix) bf16: what the fused path reads.</summary>
    internal bool Fusable =>
        (q_proj?.FusedRef ?? q_b_proj!.FusedRef) is not null && (q_proj is not null || q_a_proj!.FusedRef is not null)
        && kv_a_proj_with_mqa.FusedRef is not null && kv_b_proj.FusedWeight is not null && o_proj.FusedRef is not null;

    /// <summary>Attention output (m × hidden) for the normalized rows <paramref name="x"/> (m × hidden, fp32).</summary>
    internal unsafe void ForwardFused(float* x, FusedRows rows, Rotary rope, LayerCache cache, float* output)
    {
        using var arena = Arena.Open();
        int m = rows.Count, d = kv_a_proj_with_mqa.InFeatures, qw = nope + ropeDim, qOut = heads * qw, kvw = kvRank + ropeDim;
        float* xk = arena.Floats((long)m * d);
        Bf16Gemm.ToKernelOrder(x, (long)m * d, xk);
        float* q = arena.Floats((long)m * qOut);
        if (q_proj is not null) q_proj.ForwardFused(x, xk, m, q);
        else
        {
            int rank = q_a_proj!.OutFeatures;
            float* qa = arena.Floats((long)m * rank), qak = arena.Floats((long)m * rank);
            q_a_proj.ForwardFused(x, xk, m, qa);
            float* nw = TensorPointer.Of<float>(q_a_layernorm!.weight);
            for (int r = 0; r < m; r++) DecodeMath.RmsNorm(qa + (long)r * rank, nw, q_a_layernorm.Eps, qa + (long)r * rank, rank);
            Bf16Gemm.ToKernelOrder(qa, (long)m * rank, qak);
            q_b_proj!.ForwardFused(qa, qak, m, q);
        }
        float* kv = arena.Floats((long)m * kvw);
        kv_a_proj_with_mqa.ForwardFused(x, xk, m, kv);

        // The new latents and rotary keys go to the cache first: a prompt's later tokens attend its earlier ones.
        ushort* ca = TensorPointer.Of<ushort>(cache.A), cb = TensorPointer.Of<ushort>(cache.B);
        long a0 = cache.A.stride(0), a1 = cache.A.stride(1), b0 = cache.B.stride(0), b1 = cache.B.stride(1);
        float* cos = TensorPointer.Of<float>(rope.Cos), sin = TensorPointer.Of<float>(rope.Sin);
        int half = ropeDim / 2;
        float* lw = TensorPointer.Of<float>(kv_a_layernorm.weight);
        for (int r = 0; r < m; r++)
        {
            float* latent = kv + (long)r * kvw, kPe = latent + kvRank;
            int row = rows.Row[r], p = rows.Pos[r];
            DecodeMath.RmsNorm(latent, lw, kv_a_layernorm.Eps, latent, kvRank);
            DecodeMath.Rotate(kPe, cos + (long)p * half, sin + (long)p * half, ropeDim);
            DecodeMath.ToBf16(latent, ca + row * a0 + p * a1, kvRank);
            DecodeMath.ToBf16(kPe, cb + row * b0 + p * b1, ropeDim);
        }

        // Absorbed attention per head: q·W_UK against the latents, softmax, the latents' weighted sum through W_UV.
        ushort* wkv = TensorPointer.Of<ushort>(kv_b_proj.FusedWeight!);            // (heads·(nope+v), rank)
        float scale = 1f / MathF.Sqrt(qw);
        int vOut = heads * vDim;
        float* o = arena.Floats((long)m * vOut), qLat = arena.Floats(kvRank), oLat = arena.Floats(kvRank), scores = arena.Floats(rows.MaxPos + 1);
        for (int r = 0; r < m; r++)
        {
            int row = rows.Row[r], p = rows.Pos[r];
            ushort* lat = ca + row * a0, key = cb + row * b0;
            for (int h = 0; h < heads; h++)
            {
                float* qh = q + (long)r * qOut + h * qw, qPe = qh + nope;
                ushort* wh = wkv + (long)h * (nope + vDim) * kvRank;
                DecodeMath.Rotate(qPe, cos + (long)p * half, sin + (long)p * half, ropeDim);
                new Span<float>(qLat, kvRank).Clear();
                for (int i = 0; i < nope; i++) DecodeMath.Axpy(qh[i], wh + (long)i * kvRank, qLat, kvRank);
                for (int s = 0; s <= p; s++)
                    scores[s] = (DecodeMath.Dot(qLat, lat + s * a1, kvRank) + DecodeMath.Dot(qPe, key + s * b1, ropeDim)) * scale;
                DecodeMath.Softmax(scores, p + 1);
                new Span<float>(oLat, kvRank).Clear();
                for (int s = 0; s <= p; s++) DecodeMath.Axpy(scores[s], lat + s * a1, oLat, kvRank);
                float* oh = o + (long)r * vOut + h * vDim;
                for (int j = 0; j < vDim; j++) oh[j] = DecodeMath.Dot(oLat, wh + (long)(nope + j) * kvRank, kvRank);
            }
        }
        float* ok = arena.Floats((long)m * vOut);
        Bf16Gemm.ToKernelOrder(o, (long)m * vOut, ok);
        o_proj.ForwardFused(o, ok, m, output);
        GC.KeepAlive(cache); GC.KeepAlive(rope);
    }
}

public sealed partial class Mha
{
    internal bool Fusable =>
        q_proj.FusedRef is not null && k_proj.FusedRef is not null && v_proj.FusedRef is not null && o_proj.FusedRef is not null;

    /// <summary>Attention output (m × hidden) for the normalized rows <paramref name="x"/> (m × hidden, fp32).</summary>
    internal unsafe void ForwardFused(float* x, FusedRows rows, Rotary rope, LayerCache cache, float* output)
    {
        using var arena = Arena.Open();
        int m = rows.Count, d = q_proj.InFeatures, width = heads * headDim, half = headDim / 2;
        float* xk = arena.Floats((long)m * d);
        Bf16Gemm.ToKernelOrder(x, (long)m * d, xk);
        float* q = arena.Floats((long)m * width), k = arena.Floats((long)m * width), v = arena.Floats((long)m * width);
        q_proj.ForwardFused(x, xk, m, q);
        k_proj.ForwardFused(x, xk, m, k);
        v_proj.ForwardFused(x, xk, m, v);
        // Keys (B, H, maxT, D) and values, written at each token's position before any token attends.
        ushort* ka = TensorPointer.Of<ushort>(cache.A), va = TensorPointer.Of<ushort>(cache.B);
        long k0 = cache.A.stride(0), k1 = cache.A.stride(1), k2 = cache.A.stride(2);
        long v0 = cache.B.stride(0), v1 = cache.B.stride(1), v2 = cache.B.stride(2);
        float* cos = TensorPointer.Of<float>(rope.Cos), sin = TensorPointer.Of<float>(rope.Sin);
        for (int r = 0; r < m; r++)
        {
            int row = rows.Row[r], p = rows.Pos[r];
            for (int h = 0; h < heads; h++)
            {
                long at = (long)r * width + h * headDim;
                DecodeMath.Rotate(q + at, cos + (long)p * half, sin + (long)p * half, headDim);
                DecodeMath.Rotate(k + at, cos + (long)p * half, sin + (long)p * half, headDim);
                DecodeMath.ToBf16(k + at, ka + row * k0 + h * k1 + p * k2, headDim);
                DecodeMath.ToBf16(v + at, va + row * v0 + h * v1 + p * v2, headDim);
            }
        }
        float scale = 1f / MathF.Sqrt(headDim);
        float* o = arena.Zeros((long)m * width), scores = arena.Floats(rows.MaxPos + 1);
        for (int r = 0; r < m; r++)
        {
            int row = rows.Row[r], p = rows.Pos[r];
            for (int h = 0; h < heads; h++)
            {
                long at = (long)r * width + h * headDim;
                ushort* keys = ka + row * k0 + h * k1, values = va + row * v0 + h * v1;
                for (int s = 0; s <= p; s++) scores[s] = DecodeMath.Dot(q + at, keys + s * k2, headDim) * scale;
                DecodeMath.Softmax(scores, p + 1);
                for (int s = 0; s <= p; s++) DecodeMath.Axpy(scores[s], values + s * v2, o + at, headDim);
            }
        }
        float* ok = arena.Floats((long)m * width);
        Bf16Gemm.ToKernelOrder(o, (long)m * width, ok);
        o_proj.ForwardFused(o, ok, m, output);
        GC.KeepAlive(cache); GC.KeepAlive(rope);
    }
}
