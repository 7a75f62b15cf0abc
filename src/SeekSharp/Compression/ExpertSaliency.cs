using static TorchSharp.torch;
using SeekSharp.Native;

namespace SeekSharp.Compression;

// REAP's saliency of a routed expert (Lasby et al., "REAP: Router-weighted Expert Activation Pruning"):
// S_j = mean over the tokens routed to j of g_j(x)·‖f_j(x)‖₂, where g_j is the router weight the token
// gives j (after top-k normalization and the routed scaling factor: exactly what multiplies the expert's
// output in the sum) and f_j(x) the expert's output. An expert that is chosen often but contributes
// little, or rarely and weakly, scores low; the frequency alone (how often it is chosen) is recorded
// beside it but does not rank: a rarely chosen expert can still carry a large part of those tokens' output.

/// <summary>Per-expert routing statistics of one MoE layer, filled by <see cref="Modeling.MoE"/> while set as its
/// <see cref="Modeling.MoE.Statistics"/>. Sums on the host in float64, so the order of batches changes nothing
/// but rounding in the last digits.</summary>
public sealed class ExpertStatistics(int experts)
{
    readonly double[] weightedNorm = new double[experts];   // Σ over routed tokens of g·‖f‖
    readonly long[] routed = new long[experts];             // tokens routed to each expert

    public int Experts => experts;

    /// <summary>Tokens seen (each routed to k experts).</summary>
    public long Tokens { get; private set; }

    /// <summary>Adds one forward's routing.</summary>
    /// <param name="indices">(N, k) chosen experts.</param>
    /// <param name="weights">(N, k) their router weights.</param>
    /// <param name="outputs">(N, k, D) the chosen experts' outputs, before weighting.</param>
    public void Add(Tensor indices, Tensor weights, Tensor outputs)
    {
        using var scope = NewDisposeScope();
        var flat = indices.flatten();
        var norms = linalg.vector_norm(outputs.to_type(ScalarType.Float64), 2, [-1]);        // (N, k)
        var contribution = (weights.to_type(ScalarType.Float64) * norms).flatten();
        var sums = zeros(experts, dtype: ScalarType.Float64, device: outputs.device).index_add_(0, flat, contribution, Scalars.One);
        var counts = flat.bincount(null, minlength: experts);
        var s = sums.cpu().data<double>().ToArray();
        var c = counts.cpu().data<long>().ToArray();
        for (int e = 0; e < experts; e++) { weightedNorm[e] += s[e]; routed[e] += c[e]; }
        Tokens += indices.shape[0];
    }

    /// <summary>REAP saliency per expert; 0 for an expert no token chose (it contributed nothing).</summary>
    public double[] Saliency => weightedNorm.Select((w, e) => routed[e] == 0 ? 0 : w / routed[e]).ToArray();

    /// <summary>Tokens routed to each expert.</summary>
    public long[] Routed => (long[])routed.Clone();

    /// <summary>Fraction of tokens that chose each expert (the k fractions of a token sum to k over experts).</summary>
    public double[] Frequency => routed.Select(r => Tokens == 0 ? 0 : (double)r / Tokens).ToArray();
}
