using TorchSharp;
using static TorchSharp.torch;
using SeekSharp.Native;

namespace SeekSharp.Modeling;

/// <summary>Common shape of the two attention kinds.</summary>
public abstract class Attention(string name) : nn.Module(name)
{
    /// <param name="x">(B, T, D) hidden states at positions <paramref name="pos"/> (start..start+T-1, or per row).</param>
    /// <param name="cache">When given, keys/values for these positions are stored and all earlier ones attended.</param>
    public abstract Tensor Forward(Tensor x, Positions pos, Rotary rope, LayerCache? cache);

    public static Attention Create(ModelConfig cfg) => cfg.IsMla ? new Mla(cfg) : new Mha(cfg);

    /// <summary>Causal mask for T queries at positions start.. against start+T keys; true = attend.</summary>
    protected static Tensor CausalMask(long t, long start, Device device)
    {
        var q = Scalars.Arange(start, start + t, device).unsqueeze(1);
        var k = Scalars.Arange(0, start + t, device).unsqueeze(0);
        return k.le(q); // (T, start+T)
    }

    /// <summary>SDPA over the first `end` positions, choosing the cheapest correct masking.</summary>
    protected static Tensor Sdpa(Tensor q, Tensor k, Tensor v, Positions pos)
    {
        if (pos.Rows is not null) return nn.functional.scaled_dot_product_attention(q, k, v, attn_mask: pos.Rows.Mask);
        int start = pos.Start;
        long t = q.shape[2];
        if (start == 0) return nn.functional.scaled_dot_product_attention(q, k, v, is_casual: t > 1);
        if (t == 1) return nn.functional.scaled_dot_product_attention(q, k, v);
        using var mask = CausalMask(t, start, q.device);
        return nn.functional.scaled_dot_product_attention(q, k, v, attn_mask: mask);
    }
}

/// <summary>Standard multi-head attention with rotary embeddings on the full head.</summary>
public sealed partial class Mha : Attention
{
    readonly Linear q_proj, k_proj, v_proj, o_proj;
    readonly int heads, headDim;

    public Mha(ModelConfig cfg) : base("self_attn")
    {
        heads = cfg.NumAttentionHeads;
        headDim = cfg.QkRopeHeadDim;
        q_proj = new Linear(cfg.HiddenSize, heads * headDim);
        k_proj = new Linear(cfg.HiddenSize, heads * headDim);
        v_proj = new Linear(cfg.HiddenSize, heads * headDim);
        o_proj = new Linear(heads * headDim, cfg.HiddenSize);
        RegisterComponents();
    }

    public override Tensor Forward(Tensor x, Positions pos, Rotary rope, LayerCache? cache)
    {
        using var scope = NewDisposeScope();
        long b = x.shape[0], t = x.shape[1];
        var q = rope.Apply(q_proj.forward(x).view(b, t, heads, headDim).transpose(1, 2), pos); // (B, H, T, D)
        var k = rope.Apply(k_proj.forward(x).view(b, t, heads, headDim).transpose(1, 2), pos);
        var v = v_proj.forward(x).view(b, t, heads, headDim).transpose(1, 2);
        if (cache is not null) (k, v) = cache.Append(k, v, pos);
        else if (pos.Rows is not null) throw new ArgumentException("per-row positions need a cache.", nameof(cache));
        var o = Sdpa(q, k, v, pos).transpose(1, 2).reshape(b, t, heads * headDim);
        return o_proj.forward(o).MoveToOuterDisposeScope();
    }
}
