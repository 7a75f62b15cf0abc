using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SeekSharp.Modeling;

// DeepSeekMoE: many small routed experts (fine-grained) plus always-on shared experts. Dispatch is
// sort-based: the N·k (token, expert) pairs are sorted by expert so each expert runs one dense matmul
// over a contiguous slice, then outputs are weighted and scattered back with index_add. On a CPU this
// beats padded batched matmuls because nothing is computed for empty capacity.

/// <summary>Mixture-of-Experts feed-forward.</summary>
public sealed class MoE : nn.Module
{
    readonly Gate gate;
    readonly ModuleList<Mlp> experts;
    readonly Mlp? shared_experts;
    readonly int topK, nExperts;

    public MoE(ModelConfig cfg) : base("mlp")
    {
        topK = cfg.NumExpertsPerTok;
        nExperts = cfg.NRoutedExperts;
        gate = new Gate(cfg);
        experts = new ModuleList<Mlp>(Enumerable.Range(0, nExperts).Select(_ => new Mlp(cfg.HiddenSize, cfg.MoeIntermediateSize)).ToArray());
        if (cfg.NSharedExperts > 0) shared_experts = new Mlp(cfg.HiddenSize, cfg.NSharedExperts * cfg.MoeIntermediateSize);
        RegisterComponents();
    }

    public Gate Gate => gate;

    /// <param name="x">(B, T, D).</param>
    /// <returns>(B, T, D) and the balance loss (or null).</returns>
    public (Tensor Output, Tensor? AuxLoss) Forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        long b = x.shape[0], t = x.shape[1], d = x.shape[2];
        var flat = x.reshape(b * t, d);                                             // (N, D)
        var (indices, weights, aux) = gate.Route(flat, t);                          // (N, k)
        var pairExpert = indices.flatten();                                         // (N·k)
        var order = pairExpert.argsort();                                           // pairs grouped by expert
        var counts = pairExpert.bincount(null, minlength: nExperts).cpu().data<long>().ToArray();
        var tokenOf = order.div(topK, rounding_mode: RoundingMode.floor);           // (N·k) source token
        var xs = flat.index_select(0, tokenOf);                                     // (N·k, D)

        var outs = new List<Tensor>(nExperts);
        long offset = 0;
        for (int e = 0; e < nExperts; e++)
        {
            if (counts[e] == 0) continue;
            outs.Add(experts[e].forward(xs.narrow(0, offset, counts[e])));
            offset += counts[e];
        }
        var ys = cat(outs, 0);                                                      // (N·k, D) compute dtype
        var w = weights.flatten().index_select(0, order).to_type(ys.dtype).unsqueeze(1);
        var routed = zeros([b * t, d], ys.dtype, ys.device).index_add(0, tokenOf, ys * w, 1.0);
        var y = shared_experts is null ? routed : routed + shared_experts.forward(flat);
        return (y.view(b, t, d).MoveToOuterDisposeScope(), aux?.MoveToOuterDisposeScope());
    }
}
