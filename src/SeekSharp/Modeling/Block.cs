using TorchSharp;
using static TorchSharp.torch;
using SeekSharp.Native;

namespace SeekSharp.Modeling;

/// <summary>Pre-norm decoder block: h + Attn(norm(h)), then h + FFN(norm(h)); FFN dense or MoE.</summary>
public sealed partial class Block : nn.Module
{
    readonly RmsNorm input_layernorm, post_attention_layernorm;
    readonly Attention self_attn;
    readonly nn.Module mlp; // Mlp or MoE

    public Block(ModelConfig cfg, int layer) : base($"layer{layer}")
    {
        input_layernorm = new RmsNorm(cfg.HiddenSize, cfg.RmsNormEps);
        post_attention_layernorm = new RmsNorm(cfg.HiddenSize, cfg.RmsNormEps);
        self_attn = Attention.Create(cfg);
        // An MTP module (layer >= num_hidden_layers, Block.Mtp.cs) has the feed-forward of the model's last layer.
        bool mtp = layer >= cfg.NumHiddenLayers;
        mlp = cfg.IsMoeLayer(mtp ? cfg.NumHiddenLayers - 1 : layer) ? new MoE(cfg) : new Mlp(cfg.HiddenSize, cfg.IntermediateSize);
        if (mtp)
        {
            enorm = new RmsNorm(cfg.HiddenSize, cfg.RmsNormEps);
            hnorm = new RmsNorm(cfg.HiddenSize, cfg.RmsNormEps);
            eh_proj = new Linear(2 * cfg.HiddenSize, cfg.HiddenSize);
            shared_head = new MtpHead(cfg);
        }
        RegisterComponents();
    }

    public MoE? Moe => mlp as MoE;

    /// <summary>Keeps every weight in the compute dtype for inference (see <see cref="Transformer.Freeze"/>).</summary>
    public void Freeze()
    {
        foreach (var m in self_attn.modules()) if (m is Linear l) l.Freeze();
        eh_proj?.Freeze();
        if (mlp is MoE moe) moe.Freeze(); else ((Mlp)mlp).Freeze();
    }

    public void Unfreeze()
    {
        foreach (var m in self_attn.modules()) if (m is Linear l) l.Unfreeze();
        eh_proj?.Unfreeze();
        if (mlp is MoE moe) moe.Unfreeze(); else ((Mlp)mlp).Unfreeze();
    }

    /// <param name="h">(B, T, D) residual stream, fp32: low-precision outputs are added into it, as autocast would.</param>
    public (Tensor H, Tensor? AuxLoss) Forward(Tensor h, Positions pos, Rotary rope, LayerCache? cache)
    {
        using var scope = NewDisposeScope();
        h = h.add(self_attn.Forward(input_layernorm.forward(h), pos, rope, cache), Scalars.One);
        var x = post_attention_layernorm.forward(h);
        Tensor? aux = null;
        if (mlp is MoE moe)
        {
            var (y, a) = moe.Forward(x);
            h = h.add(y, Scalars.One);
            aux = a;
        }
        else h = h.add(((Mlp)mlp).forward(x), Scalars.One);
        return (h.MoveToOuterDisposeScope(), aux?.MoveToOuterDisposeScope());
    }
}
