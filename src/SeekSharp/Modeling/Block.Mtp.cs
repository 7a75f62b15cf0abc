using TorchSharp;
using static TorchSharp.torch;

namespace SeekSharp.Modeling;

// A multi-token-prediction module (DeepSeek-V3 section 2.2) is a Block with four more parts, so that its parameters
// carry Hugging Face's DeepSeek-V3 names as the layer after the last: model.layers.{L}.enorm, .hnorm, .eh_proj,
// .shared_head.norm beside the block's usual input_layernorm, self_attn.*, mlp.*. Module k sees the previous
// depth's residual stream h (the main model's for k = 1) and the embedding of the token k places ahead:
// eh_proj([enorm(emb); hnorm(h)]) - embedding first, the column order of vLLM's deepseek_mtp, which loads the
// released weights - then the block. The embedding and output head are the main model's (shared, not copied:
// the released files' model.layers.{L}.embed_tokens / shared_head.head copies are not stored). Decision 0021.

/// <summary>The MTP module's final norm (Hugging Face's shared_head.norm; its head is the main model's).</summary>
public sealed class MtpHead : nn.Module
{
    readonly RmsNorm norm;

    public MtpHead(ModelConfig cfg) : base("shared_head")
    {
        norm = new RmsNorm(cfg.HiddenSize, cfg.RmsNormEps);
        RegisterComponents();
    }

    public Tensor Forward(Tensor h) => norm.forward(h);
}

public sealed partial class Block
{
    readonly RmsNorm? enorm, hnorm;
    readonly Linear? eh_proj;
    readonly MtpHead? shared_head;

    /// <summary>True for an MTP module (a layer after the main model's last).</summary>
    public bool IsMtp => eh_proj is not null;

    /// <summary>MTP depth step: the previous depth's residual <paramref name="h"/> (B, T, D) and the embeddings
    /// <paramref name="emb"/> (B, T, D) of the tokens one further ahead, position for position.</summary>
    /// <returns>This depth's residual (B, T, D) fp32 (the next depth's input), its normed output for the shared head,
    /// and the MoE balance loss (or null).</returns>
    /// <param name="fused">Run the block on the fused decode path (Block.Fused.cs): frozen, bf16 cache, a few rows.</param>
    public (Tensor H, Tensor Normed, Tensor? AuxLoss) ForwardMtp(Tensor h, Tensor emb, Positions pos, Rotary rope, LayerCache? cache, bool fused = false)
    {
        if (eh_proj is null) throw new InvalidOperationException("not an MTP module");
        using var scope = NewDisposeScope();
        var x = cat([enorm!.forward(emb).to_type(ScalarType.Float32), hnorm!.forward(h).to_type(ScalarType.Float32)], -1);
        var projected = eh_proj.forward(x).to_type(ScalarType.Float32);
        if (fused && cache is not null)
        {
            var rows = new FusedRows(projected.shape[0], projected.shape[1], pos);
            var fusedOut = ForwardFused(projected.contiguous(), rows, rope, cache);
            return (fusedOut.MoveToOuterDisposeScope(), shared_head!.Forward(fusedOut).MoveToOuterDisposeScope(), null);
        }
        var (next, aux) = Forward(projected, pos, rope, cache);
        var normed = shared_head!.Forward(next);
        return (next.MoveToOuterDisposeScope(), normed.MoveToOuterDisposeScope(), aux?.MoveToOuterDisposeScope());
    }
}
