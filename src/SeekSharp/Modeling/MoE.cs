using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SeekSharp.Modeling;

// DeepSeekMoE: many small routed experts (fine-grained) plus always-on shared experts.
// Dispatch: the N·k (token, expert) pairs are sorted by expert and gathered into one buffer where each
// expert's rows are contiguous, padded up to a multiple of CapacityQuantum; each expert then runs one
// SwiGLU on its slice. Nothing is dropped. The padding exists because tensor sizes that change every
// step defeat the allocator's reuse: measured on this CPU, exact per-expert slices ran ~250 ms per
// layer-step with fresh inputs against ~160 ms when sizes repeated; with quantized sizes, ~110 ms.
// (A batched matmul over an (E, C, D) buffer padded to the busiest expert measured the same or worse:
// it pads every expert to the maximum.) Parameters stay one Mlp per expert, named as Hugging Face's.

/// <summary>Mixture-of-Experts feed-forward.</summary>
public sealed class MoE : nn.Module
{
    /// <summary>Expert capacity is rounded up to a multiple of this many rows.</summary>
    public const int CapacityQuantum = 128;

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
        long b = x.shape[0], t = x.shape[1], d = x.shape[2], n = b * t, pairs = n * topK;
        var flat = x.reshape(n, d);                                                  // (N, D)
        var (indices, weights, aux, counts) = gate.Route(flat, t);                   // (N, k), per-expert counts
        var pairExpert = indices.flatten();                                          // (N·k)
        // Stable: equal keys keep token order, so a run is reproducible (an unstable sort can permute rows
        // within an expert between runs; GEMM tiling then rounds them differently and top-k routing, near-tied
        // under the balancing bias, amplifies that into a different run).
        var order = pairExpert.sort(stable: true).Indices;                           // pairs grouped by expert
        // Each expert's slice is padded to a multiple of CapacityQuantum rows: (offsets of real rows, of padded rows).
        var padded = counts.Select(c => (c + CapacityQuantum - 1) / CapacityQuantum * CapacityQuantum).ToArray();
        long[] start = new long[nExperts], padStart = new long[nExperts];
        for (int e = 1; e < nExperts; e++) { start[e] = start[e - 1] + counts[e - 1]; padStart[e] = padStart[e - 1] + padded[e - 1]; }
        long rows = padStart[^1] + padded[^1];

        var sortedExpert = pairExpert.index_select(0, order);                        // (N·k)
        var shift = tensor(padStart.Zip(start, (p, s) => p - s).ToArray(), device: x.device);
        var slot = arange(pairs, device: x.device) + shift.index_select(0, sortedExpert); // row in the padded layout
        var tokenOf = order.div(topK, rounding_mode: RoundingMode.floor);            // source token of each pair
        // Gather rows into the padded layout. Padding rows read token 0: their outputs are never selected
        // back, so they add nothing to the result or to any gradient.
        var gather = zeros(rows, dtype: ScalarType.Int64, device: x.device).index_put_(tokenOf, slot);
        var grouped = flat.index_select(0, gather);                                  // (rows, D)

        var outs = new List<Tensor>(nExperts);
        for (int e = 0; e < nExperts; e++)
            if (padded[e] > 0) outs.Add(experts[e].forward(grouped.narrow(0, padStart[e], padded[e])));
        // Back to (token, choice) order: every token has exactly k outputs, so combining is a weighted
        // sum over a reshape, not a scatter-add.
        var slotOfPair = zeros(pairs, dtype: ScalarType.Int64, device: x.device).index_put_(slot, order);
        var ys = cat(outs, 0).index_select(0, slotOfPair).view(n, topK, d);         // (N, k, D)
        var routed = (ys * weights.to_type(ys.dtype).unsqueeze(2)).sum(1);           // (N, D)
        var y = shared_experts is null ? routed : routed + shared_experts.forward(flat);
        return (y.view(b, t, d).MoveToOuterDisposeScope(), aux?.MoveToOuterDisposeScope());
    }
}
