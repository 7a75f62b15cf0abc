using SeekSharp.Training;
using static TorchSharp.torch;

namespace SeekSharp.Distillation;

// Knowledge distillation over the teacher's top-k logits (Hinton et al.; the truncation as in MiniLLM/DistiLLM
// caches): at each position with a target, the teacher's distribution is the softmax of its k cached logits at
// temperature τ (the mass outside its top k is dropped and the rest renormalized: it is what the cache can hold),
// the student's is its full log-softmax at τ read at the same k ids, and
//   loss = α · CE(student, target) + (1 − α) · τ² · Σ_k p_k (log p_k − log q_k)
// τ² keeps the KL's gradient on the CE's scale as τ grows (the soft targets' gradient shrinks as 1/τ²). Positions
// are those whose target is not LmLoss.Ignore, in row-major order: the order the cache was written in.

public static class KdLoss
{
    /// <summary>Summed over the positions with a target, like <see cref="LmLoss.Sum"/>; the caller divides by the tokens.</summary>
    /// <param name="logits">(B, T, V) student logits, fp32.</param>
    /// <param name="targets">(B·T) int64 with <see cref="LmLoss.Ignore"/> where there is no loss.</param>
    /// <param name="teacherValues">(N, k) fp32 teacher logits, N = the positions with a target.</param>
    /// <param name="teacherIds">(N, k) int64 token ids of those logits.</param>
    public static Tensor Sum(Tensor logits, Tensor targets, Tensor teacherValues, Tensor teacherIds, double tau, double alpha)
    {
        if (tau <= 0) throw new ArgumentOutOfRangeException(nameof(tau), tau, "temperature must be positive");
        if (alpha is < 0 or > 1) throw new ArgumentOutOfRangeException(nameof(alpha), alpha, "alpha must be in [0, 1]");
        var flat = logits.view(-1, logits.shape[^1]);
        var idx = targets.ne(LmLoss.Ignore).nonzero().squeeze(1);
        if (idx.shape[0] != teacherValues.shape[0])
            throw new SeekSharpException($"teacher cache: {teacherValues.shape[0]} positions for a batch with {idx.shape[0]} targets (cache and data out of step).");
        var rows = flat.index_select(0, idx);
        var ce = nn.functional.cross_entropy(rows, targets.index_select(0, idx), reduction: nn.Reduction.Sum);
        var logq = nn.functional.log_softmax(rows.div(tau), 1).gather(1, teacherIds);
        var logp = nn.functional.log_softmax(teacherValues.div(tau), 1);
        var kl = logp.exp().mul(logp.sub(logq)).sum();
        return ce.mul(alpha).add(kl.mul((1 - alpha) * tau * tau));
    }
}
