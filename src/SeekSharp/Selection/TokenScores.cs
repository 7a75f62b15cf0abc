using SeekSharp.Modeling;
using SeekSharp.Training;
using static TorchSharp.torch;

namespace SeekSharp.Selection;

// The one scoring pass both kinds of selection share: a no-grad forward over rows of next-token windows and,
// per row, the summed cross-entropy and predictive entropy over its targets (positions whose target is
// LmLoss.Ignore, the padding of shorter rows, count for nothing). Offline selection (`seek data select`) sums
// rows into documents; online selection (`seek base train --select`) scores candidate windows. Sums, not means,
// so a document split over several windows gets the mean over all its tokens. no_grad also keeps the forward
// out of the MoE routers' load counts, which steer their biases only on training traffic (Gate).

/// <summary>Per-row sums of a scoring pass.</summary>
/// <param name="Loss">Σ −log p(target) over the row's scored targets, in nats.</param>
/// <param name="Entropy">Σ H(p) over the same positions; null when not asked for.</param>
/// <param name="Tokens">Scored targets per row.</param>
public sealed record RowScores(double[] Loss, double[]? Entropy, int[] Tokens);

public static class TokenScores
{
    /// <summary>Scores <paramref name="rows"/> rows of <paramref name="seqLen"/> positions (row-major inputs and targets).</summary>
    public static RowScores Rows(Transformer model, long[] inputs, long[] targets, int rows, int seqLen, Device device, bool entropy)
    {
        if (inputs.Length != (long)rows * seqLen || targets.Length != inputs.Length)
            throw new ArgumentException($"inputs and targets must each hold rows * seqLen = {rows * seqLen} ids.");
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var (logits, _) = model.Forward(tensor(inputs, [rows, seqLen]).to(device));   // (B, T, V) fp32
        var flat = logits.view(-1, logits.shape[^1]);
        var y = tensor(targets).to(device);
        var mask = y.ne(LmLoss.Ignore);
        var ce = nn.functional.cross_entropy(flat, y, ignore_index: LmLoss.Ignore, reduction: nn.Reduction.None);   // (B·T), 0 where ignored
        var loss = ce.view(rows, seqLen).sum(1).to(ScalarType.Float64).cpu().data<double>().ToArray();
        var counts = mask.view(rows, seqLen).sum(1).to(ScalarType.Int32).cpu().data<int>().ToArray();
        double[]? ent = null;
        if (entropy)
        {
            var logp = nn.functional.log_softmax(flat, 1);
            var h = logp.exp().mul(logp).sum(1).neg().mul(mask.to(ScalarType.Float32));   // (B·T)
            ent = h.view(rows, seqLen).sum(1).to(ScalarType.Float64).cpu().data<double>().ToArray();
        }
        return new RowScores(loss, ent, counts);
    }

    /// <summary>Forward FLOPs of scoring <paramref name="tokens"/> positions with a model of config <paramref name="cfg"/>.</summary>
    public static double Flops(ModelConfig cfg, int seqLen, long tokens) => ModelCost.Of(cfg, seqLen).ForwardFlopsPerToken * tokens;
}
