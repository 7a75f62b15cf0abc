using TorchSharp;
using static TorchSharp.torch;
using SeekSharp.Native;

namespace SeekSharp.Modeling;

// Multi-head Latent Attention (DeepSeek-V2/V3). Keys and values are rebuilt from a low-rank latent
// c_KV = RMSNorm(W_DKV x) plus one rotary key k_R shared by all heads (the decoupled RoPE key); queries
// optionally go through their own low-rank bottleneck. Training and cacheless inference use the
// "naive" path (expand K and V per head, then SDPA). With a cache we store only (c_KV, k_R) and use the
// absorbed form: W_UK is folded into the query and W_UV applied after attending, so per-head keys and
// values are never materialized. Both paths compute the same function; a test checks they agree.
// Tensor names follow Hugging Face's DeepSeek-V3 (q_a_proj, kv_a_proj_with_mqa, kv_b_proj, ...).

/// <summary>Multi-head Latent Attention.</summary>
public sealed partial class Mla : Attention
{
    readonly Linear? q_proj, q_a_proj, q_b_proj;
    readonly RmsNorm? q_a_layernorm;
    readonly Linear kv_a_proj_with_mqa, kv_b_proj, o_proj;
    readonly RmsNorm kv_a_layernorm;
    readonly int heads, nope, ropeDim, vDim, kvRank;

    /// <summary>Epsilon of the two latent norms. transformers' DeepseekV3 builds them with its RMSNorm default, not
    /// rms_norm_eps, so a saved model computes the same there whatever rms_norm_eps says.</summary>
    public const double LatentNormEps = 1e-6;

    public Mla(ModelConfig cfg) : base("self_attn")
    {
        heads = cfg.NumAttentionHeads;
        nope = cfg.QkNopeHeadDim;
        ropeDim = cfg.QkRopeHeadDim;
        vDim = cfg.VHeadDim;
        kvRank = cfg.KvLoraRank;
        int qOut = heads * cfg.QkHeadDim;
        if (cfg.QLoraRank == 0) q_proj = new Linear(cfg.HiddenSize, qOut);
        else
        {
            q_a_proj = new Linear(cfg.HiddenSize, cfg.QLoraRank);
            q_a_layernorm = new RmsNorm(cfg.QLoraRank, LatentNormEps);
            q_b_proj = new Linear(cfg.QLoraRank, qOut);
        }
        kv_a_proj_with_mqa = new Linear(cfg.HiddenSize, kvRank + ropeDim);
        kv_a_layernorm = new RmsNorm(kvRank, LatentNormEps);
        // The absorbed decode path uses this weight as a matrix every step: a quantized one is kept dequantized
        // (one small weight, rank x heads·(nope+v)) while frozen (docs/decisions/0015).
        kv_b_proj = new Linear(kvRank, heads * (nope + vDim)) { DequantizeWhenFrozen = true };
        o_proj = new Linear(heads * vDim, cfg.HiddenSize);
        RegisterComponents();
    }

    public override Tensor Forward(Tensor x, Positions pos, Rotary rope, LayerCache? cache)
    {
        using var scope = NewDisposeScope();
        long b = x.shape[0], t = x.shape[1];
        var qFlat = q_proj is not null ? q_proj.forward(x) : q_b_proj!.forward(q_a_layernorm!.forward(q_a_proj!.forward(x)));
        var q = qFlat.view(b, t, heads, nope + ropeDim).transpose(1, 2);               // (B, H, T, nope+rope)
        var qNope = q.narrow(-1, 0, nope);
        var qPe = rope.Apply(q.narrow(-1, nope, ropeDim), pos);                        // (B, H, T, rope)

        var kv = kv_a_proj_with_mqa.forward(x);                                         // (B, T, rank+rope)
        var latent = kv_a_layernorm.forward(kv.narrow(-1, 0, kvRank));                 // (B, T, rank)
        var kPe = rope.Apply(kv.narrow(-1, kvRank, ropeDim).unsqueeze(1), pos);         // (B, 1, T, rope)

        if (cache is null && pos.Rows is not null) throw new ArgumentException("per-row positions need a cache.", nameof(cache));
        var o = cache is null
            ? Naive(qNope, qPe, latent, kPe, pos.Start)
            : Absorbed(qNope, qPe, latent, kPe.squeeze(1), pos, cache);                 // (B, H, T, v)
        o = o.transpose(1, 2).reshape(b, t, heads * vDim);
        return o_proj.forward(o).MoveToOuterDisposeScope();
    }

    Tensor Naive(Tensor qNope, Tensor qPe, Tensor latent, Tensor kPe, int start)
    {
        long b = latent.shape[0], t = latent.shape[1];
        var kvUp = kv_b_proj.forward(latent).view(b, t, heads, nope + vDim).transpose(1, 2); // (B, H, T, nope+v)
        var k = cat([kvUp.narrow(-1, 0, nope), kPe.to_type(kvUp.dtype).expand(b, heads, t, ropeDim)], -1);
        var v = kvUp.narrow(-1, nope, vDim);
        var q = cat([qNope, qPe], -1).to_type(k.dtype);
        return Sdpa(q, k, v, start);
    }

    Tensor Absorbed(Tensor qNope, Tensor qPe, Tensor latent, Tensor kPe, Positions pos, LayerCache cache)
    {
        long t = latent.shape[1];
        var (cKv, kR) = cache.Append(latent, kPe, pos);                                 // (B, S, rank), (B, S, rope)
        var w = kv_b_proj.ComputeWeight().view(heads, nope + vDim, kvRank);
        var wUk = w.narrow(1, 0, nope);                                                 // (H, nope, rank)
        var wUv = w.narrow(1, nope, vDim);                                              // (H, v, rank)
        var qLat = matmul(qNope.to_type(w.dtype), wUk);                                 // (B, H, T, rank)
        var scores = matmul(qLat, cKv.unsqueeze(1).transpose(-1, -2).to_type(w.dtype))  // (B, H, T, S)
                   .add(matmul(qPe.to_type(w.dtype), kR.unsqueeze(1).transpose(-1, -2).to_type(w.dtype)), Scalars.One);
        scores = scores.to_type(ScalarType.Float32) * Scalars.Of(1.0 / Math.Sqrt(nope + ropeDim));
        if (pos.Rows is not null) scores = scores.masked_fill(pos.Rows.Mask.logical_not(), Scalars.Of(double.NegativeInfinity));
        else if (t > 1)
        {
            using var mask = CausalMask(t, pos.Start, scores.device);
            scores = scores.masked_fill(mask.logical_not(), Scalars.Of(double.NegativeInfinity));
        }
        var p = scores.softmax(-1).to_type(w.dtype);
        var oLat = matmul(p, cKv.unsqueeze(1).to_type(w.dtype));                        // (B, H, T, rank)
        return matmul(oLat, wUv.transpose(-1, -2));                                     // (B, H, T, v)
    }
}
