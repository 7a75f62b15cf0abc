using SeekSharp.Modeling;
using SeekSharp.Training;
using static TorchSharp.torch;

namespace SeekSharp.Reasoning;

// The optimization half of a GRPO step, given rollouts and their advantages: μ optimizer steps on the
// same rollouts (each one TrainStep over micro-batches of at most micro_batch sequences). The reference's
// log-probabilities are computed once, without gradient. The old policy's are the sampling policy's: with
// μ = 1 that is the policy itself at this moment, so they are the current log-probabilities detached (the
// ratio is exactly 1 and its gradient is the policy gradient) and no extra forward is spent; with μ > 1
// they are computed once before the first update and held fixed, so later passes see ratios != 1 and the
// clip bites. Entropy is measured on the first pass.

/// <summary>What one GRPO update did.</summary>
public sealed record GrpoUpdateStats(double Loss, double GradNorm, double Tokens, double ClipFraction, double Kl, double Entropy, long TrainedTokens)
{
    public static GrpoUpdateStats Skipped { get; } = new(0, 0, 0, 0, 0, double.NaN, 0);
}

/// <summary>Runs GRPO updates of a policy.</summary>
public sealed class GrpoUpdate(Transformer policy, Transformer? reference, AdamW optimizer, GrpoConfig cfg, int padId, Device device)
{
    /// <param name="rows">The rollouts to learn from (zero-variance groups already removed).</param>
    /// <param name="advantages">One per row.</param>
    public GrpoUpdateStats Run(IReadOnlyList<SampledRollout> rows, IReadOnlyList<double> advantages, double lr)
    {
        if (rows.Count == 0) return GrpoUpdateStats.Skipped;
        var chunks = Enumerable.Range(0, rows.Count).Chunk(cfg.MicroBatch).ToList();
        var batches = chunks.Select(c => new CompletionBatch(c.Select(i => (rows[i].PromptIds, rows[i].CompletionIds)).ToList(), padId)).ToList();
        var adv = chunks.Select(c => c.Select(i => (float)advantages[i]).ToArray()).ToList();
        var refLogp = reference is null || cfg.Beta == 0 ? null : Frozen(reference, batches);
        var oldLogp = cfg.Mu > 1 ? Frozen(policy, batches) : null;
        try
        {
            double loss = 0, norm = 0, tokens = 0, clipped = 0, kl = 0, entropy = 0;
            var tc = cfg.Train with { GradAccum = batches.Count };
            for (int pass = 0; pass < cfg.Mu; pass++)
            {
                bool first = pass == 0;
                var outcome = new TrainStep(policy, optimizer, tc, 0, device).Run(lr, m =>
                {
                    var (logp, ent) = batches[m].LogProbs(policy, cfg.Temperature, device, withEntropy: first);
                    var mask = batches[m].MaskTensor(device);
                    var parts = GrpoLoss.Compute(logp, oldLogp?[m] ?? logp.detach(), refLogp?[m], tensor(adv[m]).to(device), mask, cfg, rows.Count);
                    if (first)
                    {
                        tokens += parts.Tokens;
                        entropy += (ent! * mask).sum().item<float>();
                    }
                    clipped += parts.ClippedTokens;
                    kl += parts.KlSum;
                    return new MicroLoss(parts.Loss);
                });
                loss += outcome.Loss / cfg.Mu;
                norm += outcome.GradNorm / cfg.Mu;
            }
            double perToken = Math.Max(tokens, 1) * cfg.Mu;
            return new GrpoUpdateStats(loss, norm, tokens, clipped / perToken, kl / perToken, entropy / Math.Max(tokens, 1),
                batches.Sum(b => b.Tokens) * cfg.Mu);
        }
        finally
        {
            foreach (var t in refLogp ?? []) t.Dispose();
            foreach (var t in oldLogp ?? []) t.Dispose();
        }
    }

    /// <summary>Log-probabilities without gradient, kept outside any dispose scope until the update ends.</summary>
    List<Tensor> Frozen(Transformer model, List<CompletionBatch> batches)
    {
        using var _ = no_grad();
        return batches.Select(b =>
        {
            using var scope = NewDisposeScope();
            return b.LogProbs(model, cfg.Temperature, device).LogProbs.DetachFromDisposeScope();
        }).ToList();
    }
}
