using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using SeekSharp.Native;
using SeekSharp.Compression;
using SeekSharp.Kernels;

namespace SeekSharp.Modeling;

// DeepSeekMoE: many small routed experts (fine-grained) plus always-on shared experts.
// Dispatch: the N·k (token, expert) pairs are sorted by expert and gathered into one buffer where each
// expert's rows are contiguous, padded up to a multiple of CapacityQuantum; each expert then runs one
// SwiGLU on its slice. Nothing is dropped. The padding exists because tensor sizes that change every
// step defeat the allocator's reuse: measured on this CPU, exact per-expert slices ran ~250 ms per
// layer-step with fresh inputs against ~160 ms when sizes repeated; with quantized sizes, ~110 ms.
// Training (gradients on) batches the experts instead: every expert with tokens gets the same padded capacity C
// (the busiest one's rows, rounded up to CapacityQuantum), and all of them run as two bmm over (E, C, D) against
// their weights stacked per step. That pads more rows (~17% at the balance the bias keeps, against ~8%) but
// replaces ~20 ops per expert, forward and backward, by a handful: measured on the 2-core CI machine
// (docs/decisions/0018), a `small` MoE layer's forward+backward went from 2.3-2.8 s to 1.2-1.6 s while other work
// shared the cores, and the loop was ~35% over the dense FFN when it did not (whole steps broke even under load).
// Past MaxGroupedPadding the loop runs (early, unbalanced steps). Evaluation and decoding keep the loop (and its
// Quantum), unchanged. FP8 training takes the loop too: each expert's Linears then quantize their own weight blocks and
// their own tokens' tiles (Fp8Linear), where the stacked bmm would bypass them.
// Parameters stay one Mlp per expert, named as Hugging Face's.

/// <summary>Mixture-of-Experts feed-forward.</summary>
public sealed partial class MoE : nn.Module
{
    /// <summary>Expert capacity is rounded up to a multiple of this many rows.</summary>
    public const int CapacityQuantum = 128;

    readonly Gate gate;
    readonly ModuleList<Mlp> experts;
    readonly Mlp? shared_experts;
    readonly int topK, nExperts, inter;

    public MoE(ModelConfig cfg) : base("mlp")
    {
        topK = cfg.NumExpertsPerTok;
        nExperts = cfg.NRoutedExperts;
        inter = cfg.MoeIntermediateSize;
        gate = new Gate(cfg);
        experts = new ModuleList<Mlp>(Enumerable.Range(0, nExperts).Select(_ => new Mlp(cfg.HiddenSize, cfg.MoeIntermediateSize)).ToArray());
        if (cfg.NSharedExperts > 0) shared_experts = new Mlp(cfg.HiddenSize, cfg.NSharedExperts * cfg.MoeIntermediateSize);
        RegisterComponents();
    }

    public Gate Gate => gate;

    /// <summary>When set, every forward adds its routing and expert outputs to it (expert pruning's calibration);
    /// null (the default) costs nothing. Filled on the per-expert path only: set it on an unfrozen model (the frozen
    /// all-experts path for a few tokens never forms one expert's output).</summary>
    public ExpertStatistics? Statistics { get; set; }

    /// <summary>Whether training runs the routed experts as two batched matmuls (see the header); false runs them one
    /// by one as evaluation does. Default true.</summary>
    public bool GroupedExperts { get; set; } = true;

    /// <summary>Whether the last forward took the batched path (tests).</summary>
    internal bool LastBatched { get; private set; }

    /// <summary>The grouped path is taken while its padded rows are at most this many times the loop's.</summary>
    public const double MaxGroupedPadding = 1.5;

    /// <summary>Largest token count that takes the all-experts path when frozen.</summary>
    public const int DenseMaxRows = 64;

    // While frozen: every expert's weights side by side in the compute dtype, as two plain matrices.
    Tensor? denseGateUp; // (E·2I, D): expert e's gate rows then its up rows
    Tensor? denseDown;   // (D, E·I): expert e's down projection in columns e·I..(e+1)·I
    // The same two for q8_0/q4_0 experts, from their stored blocks (rows stack along N, blocks append along K); the
    // experts' Linears then hold views of these bytes. fp8 experts keep neither and run one by one.
    QuantizedWeight? quantGateUp, quantDown;

    bool FrozenDense => denseGateUp is not null || quantGateUp is not null;

    Tensor GateUpAll(Tensor x) => quantGateUp?.Linear(x) ?? Bf16Gemm.Linear(x, denseGateUp!);
    Tensor DownAll(Tensor x) => quantDown?.Linear(x) ?? Bf16Gemm.Linear(x, denseDown!);

    /// <summary>Decoding: a few tokens at a time, and a batch of them reaches most experts. Looping over busy
    /// experts then costs a dozen small ops per expert, layer and step, most of it call overhead. Instead every
    /// expert runs on every token as ONE matmul against all experts' gate/up weights; the activations are
    /// scaled by the gate weights (zero for experts not chosen) and ONE matmul against all down projections
    /// sums the chosen experts' outputs. Same function, a handful of ops, weights read once per step.</summary>
    Tensor AllExperts(Tensor flat, Tensor indices, Tensor weights)
    {
        using var scope = NewDisposeScope();
        long n = flat.shape[0];
        var x = flat.to_type(experts[0].ComputeType);                                // (N, D)
        var halves = GateUpAll(x).view(n, nExperts, 2 * inter).chunk(2, -1);         // (N, E, I) twice
        var combine = zeros(n, nExperts, device: flat.device).scatter_(1, indices, weights);         // (N, E)
        var act = nn.functional.silu(halves[0]) * halves[1] * combine.unsqueeze(-1).to_type(x.dtype);
        var routed = DownAll(act.view(n, nExperts * inter));                          // (N, D)
        return (shared_experts is null ? routed : routed.add(shared_experts.forward(flat), Scalars.One)).MoveToOuterDisposeScope();
    }

    /// <summary>Routed expert e on its rows; when frozen, on its slices of the side-by-side weights.</summary>
    Tensor Expert(int e, Tensor x)
    {
        if (denseGateUp is null) return experts[e].forward(x);                      // quantized: views of the fused bytes
        using var scope = NewDisposeScope();
        var halves = nn.functional.linear(x.to_type(denseGateUp.dtype), denseGateUp.narrow(0, 2L * e * inter, 2L * inter)).chunk(2, -1);
        return nn.functional.linear(nn.functional.silu(halves[0]) * halves[1], denseDown!.narrow(1, (long)e * inter, inter)).MoveToOuterDisposeScope();
    }

    /// <summary>The experts with rows (padded[e] = C) as two bmm: (A, C, D) against their gate/up weights stacked
    /// (A, 2I, D), SwiGLU, then against their down projections (A, D, I). Same function as <see cref="Expert"/> per slice.</summary>
    Tensor Batched(Tensor grouped, long[] padded, long capacity, int first = 0, int end = -1)
    {
        using var scope = NewDisposeScope();
        var active = Enumerable.Range(first, (end < 0 ? nExperts : end) - first).Where(e => padded[e] > 0).Select(e => experts[e]).ToArray();
        long a = active.Length, d = grouped.shape[1];
        var gateUp = cat([stack(active.Select(m => m.GateProj.ComputeWeight())), stack(active.Select(m => m.UpProj.ComputeWeight()))], 1);
        var down = stack(active.Select(m => m.DownProj.ComputeWeight()));           // (A, D, I)
        var x = grouped.to_type(active[0].ComputeType).view(a, capacity, d);         // (A, C, D)
        var halves = x.bmm(gateUp.transpose(1, 2)).chunk(2, -1);                    // (A, C, I) twice
        return (nn.functional.silu(halves[0]) * halves[1]).bmm(down.transpose(1, 2)).view(a * capacity, d).MoveToOuterDisposeScope();
    }

    /// <summary>Keeps all experts' weights side by side in the compute dtype for inference (see <see cref="Linear.Freeze"/>).
    /// The per-expert modules stay unfrozen (the weights are not held twice): more than DenseMaxRows tokens, a
    /// long prompt, take the per-expert path on slices of the same weights.</summary>
    public void Freeze()
    {
        if (FrozenDense) return;
        using var _ = no_grad();
        shared_experts?.Freeze();
        if (experts[0].GateProj.Quantized is { } q)
        {
            if (q.Type == QuantType.Fp8) return;
            quantGateUp = QuantizedWeight.ConcatRows(experts.SelectMany(e => new[] { e.GateProj.Quantized!, e.UpProj.Quantized! }).ToArray());
            quantDown = QuantizedWeight.ConcatColumns(experts.Select(e => e.DownProj.Quantized!).ToArray());
            for (var e = 0; e < nExperts; e++)
            {
                experts[e].GateProj.SetQuantized(quantGateUp.NarrowRows(2L * e * inter, inter));
                experts[e].UpProj.SetQuantized(quantGateUp.NarrowRows((2L * e + 1) * inter, inter));
                experts[e].DownProj.SetQuantized(quantDown.NarrowColumns((long)e * inter, inter));
            }
            return;
        }
        using var scope = NewDisposeScope();
        denseGateUp = cat(experts.SelectMany(e => new[] { e.GateProj.ComputeWeight(), e.UpProj.ComputeWeight() }).ToArray(), 0)
            .DetachFromDisposeScope();
        denseDown = cat(experts.Select(e => e.DownProj.ComputeWeight()).ToArray(), 1).DetachFromDisposeScope();
    }

    /// <summary>While frozen in a dense dtype the experts run on the stacked copies (Expert, AllExperts and the fused path
    /// read denseGateUp / denseDown), so their own masters are unread: released for serving (<see cref="Linear.ReleaseMaster"/>).</summary>
    internal long ReleaseExpertMasters()
    {
        if (denseGateUp is null) return 0;
        long bytes = 0;
        foreach (var e in experts)
            foreach (var l in new[] { e.GateProj, e.UpProj, e.DownProj }) bytes += l.ReleaseMaster(readElsewhere: true);
        return bytes;
    }

    public void Unfreeze()
    {
        shared_experts?.Unfreeze();
        denseGateUp?.Dispose();
        denseDown?.Dispose();
        denseGateUp = denseDown = null;
        quantGateUp?.Dispose(); // the experts keep their views of the bytes
        quantDown?.Dispose();
        quantGateUp = quantDown = null;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) Unfreeze();
        base.Dispose(disposing);
    }

    /// <summary>Rows each expert's slice is rounded up to. Training always uses <see cref="CapacityQuantum"/>.
    /// Without gradients (decoding, evaluation) it shrinks to the next power of two of the mean rows per expert:
    /// a decode step routes a few tokens, and padding each busy expert to 128 rows made one step of 8 sequences
    /// cost several times one of a single sequence, for rows nobody reads.</summary>
    long Quantum(long pairs)
    {
        if (is_grad_enabled()) return CapacityQuantum;
        long mean = Math.Max(1, pairs / nExperts), q = 1;
        while (q < mean && q < CapacityQuantum) q *= 2;
        return q;
    }

    /// <param name="x">(B, T, D).</param>
    /// <returns>(B, T, D) and the balance loss (or null).</returns>
    public (Tensor Output, Tensor? AuxLoss) Forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        long b = x.shape[0], t = x.shape[1], d = x.shape[2], n = b * t, pairs = n * topK;
        var flat = x.reshape(n, d);                                                  // (N, D)
        var (indices, weights, aux, counts) = gate.Route(flat, t);                   // (N, k), per-expert counts
        if (FrozenDense && n <= DenseMaxRows)
            return (AllExperts(flat, indices, weights).view(b, t, d).MoveToOuterDisposeScope(), aux?.MoveToOuterDisposeScope());
        var pairExpert = indices.flatten();                                          // (N·k)
        // Stable: equal keys keep token order, so a run is reproducible (an unstable sort can permute rows
        // within an expert between runs; GEMM tiling then rounds them differently and top-k routing, near-tied
        // under the balancing bias, amplifies that into a different run).
        var order = pairExpert.sort(stable: true).Indices;                           // pairs grouped by expert
        // Each expert's slice is padded to a multiple of the quantum: (offsets of real rows, of padded rows).
        long quantum = Quantum(pairs);
        var padded = counts.Select(c => (c + quantum - 1) / quantum * quantum).ToArray();
        long capacity = (counts.Max() + quantum - 1) / quantum * quantum;
        bool batched = GroupedExperts && is_grad_enabled() && !FrozenDense && experts[0].GateProj.Quantized is null && !experts[0].GateProj.Fp8
                       && counts.Count(c => c > 0) * capacity <= MaxGroupedPadding * padded.Sum();
        if (batched) padded = counts.Select(c => c > 0 ? capacity : 0).ToArray();  // an expert without tokens stays out
        LastBatched = batched;
        long[] start = new long[nExperts], padStart = new long[nExperts];
        for (int e = 1; e < nExperts; e++) { start[e] = start[e - 1] + counts[e - 1]; padStart[e] = padStart[e - 1] + padded[e - 1]; }
        long rows = padStart[^1] + padded[^1];

        var sortedExpert = pairExpert.index_select(0, order);                        // (N·k)
        var shift = tensor(padStart.Zip(start, (p, s) => p - s).ToArray(), device: x.device);
        var slot = Scalars.Arange(0, pairs, x.device).add(shift.index_select(0, sortedExpert), Scalars.One); // row in the padded layout
        var tokenOf = order.div(Scalars.Of(topK), rounding_mode: RoundingMode.floor);            // source token of each pair
        // Gather rows into the padded layout. Padding rows read token 0: their outputs are never selected
        // back, so they add nothing to the result or to any gradient.
        var gather = zeros(rows, dtype: ScalarType.Int64, device: x.device).index_put_(tokenOf, slot);
        var grouped = flat.index_select(0, gather);                                  // (rows, D)

        Tensor expertRows;                                                           // (rows, D)
        if (exchange is not null && ranges > 1) expertRows = Distributed(grouped, counts, padded, padStart, capacity, batched);
        else if (batched) expertRows = Batched(grouped, padded, capacity);
        else
        {
            var outs = new List<Tensor>(nExperts);
            for (int e = 0; e < nExperts; e++)
                if (padded[e] > 0) outs.Add(Expert(e, grouped.narrow(0, padStart[e], padded[e])));
            expertRows = cat(outs, 0);
        }
        // Back to (token, choice) order: every token has exactly k outputs, so combining is a weighted
        // sum over a reshape, not a scatter-add.
        var slotOfPair = zeros(pairs, dtype: ScalarType.Int64, device: x.device).index_put_(slot, order);
        var ys = expertRows.index_select(0, slotOfPair).view(n, topK, d);           // (N, k, D)
        Statistics?.Add(indices, weights, ys);
        var routed = (ys * weights.to_type(ys.dtype).unsqueeze(2)).sum(1);           // (N, D)
        var y = shared_experts is null ? routed : routed.add(shared_experts.forward(flat), Scalars.One);
        return (y.view(b, t, d).MoveToOuterDisposeScope(), aux?.MoveToOuterDisposeScope());
    }
}
