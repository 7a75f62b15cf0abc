using SeekSharp.Data;
using SeekSharp.Modeling;
using static TorchSharp.torch;

namespace SeekSharp.Selection;

// Online batch selection inside pretraining (RHO-LOSS, Mindermann et al. 2022; RHO-1 selects tokens, we select
// windows): a batch source that draws R times the micro-batch's windows (the same seeded sampler, so a step's
// candidates depend only on (seed, step, micro) and --resume stays exact), scores them without gradients with the
// current model and, for excess-loss, a frozen reference model trained on target data, and hands the step the top
// 1/R. The step itself is the one TrainStep: selection only decides which rows fill its batch. What the scoring
// costs (forward FLOPs of both models over every candidate) is reported per step, billed in the ledger by StepLoop,
// and its time is inside the step's time, so tokens/s counts it.

/// <summary>Selects each micro-batch from R-times-larger candidate batches by loss or excess loss.</summary>
public sealed class OnlineSelection(string score, int ratio, Transformer? reference, Device device) : IDisposable
{
    long[] candIn = [], candTgt = [];
    long scoredTokens;
    double flops, sumSelected, sumCandidates;
    int rowsSelected, rowsCandidates;

    public string Score { get; } = score == "excess-loss" && reference is null
        ? throw new ArgumentException("excess-loss needs a reference model.", nameof(reference)) : score;
    public int Ratio { get; } = ratio;

    /// <summary>Fills (batch, seqLen) <paramref name="inputs"/>/<paramref name="targets"/> with the top 1/R of R·batch candidates
    /// drawn by <paramref name="train"/> with <paramref name="seed"/>, scored by <paramref name="learner"/> (and the reference).</summary>
    public void Fill(TokenBatchSampler train, long seed, int batch, int seqLen, Transformer learner, long[] inputs, long[] targets)
    {
        int n = batch * Ratio;
        if (candIn.Length != n * seqLen) (candIn, candTgt) = (new long[n * seqLen], new long[n * seqLen]);
        train.Sample(seed, n, seqLen, candIn, candTgt);
        var l = TokenScores.Rows(learner, candIn, candTgt, n, seqLen, device, entropy: false);
        var r = reference is null ? null : TokenScores.Rows(reference, candIn, candTgt, n, seqLen, device, entropy: false);
        var scores = new double[n];
        for (int i = 0; i < n; i++) scores[i] = (l.Loss[i] - (r?.Loss[i] ?? 0)) / Math.Max(1, l.Tokens[i]);
        var top = SelectionChoice.Top(scores, batch);
        for (int b = 0; b < batch; b++)
        {
            Array.Copy(candIn, (long)top[b] * seqLen, inputs, (long)b * seqLen, seqLen);
            Array.Copy(candTgt, (long)top[b] * seqLen, targets, (long)b * seqLen, seqLen);
            sumSelected += scores[top[b]];
        }
        sumCandidates += scores.Sum();
        (rowsSelected, rowsCandidates) = (rowsSelected + batch, rowsCandidates + n);
        long tokens = (long)n * seqLen;
        scoredTokens += tokens;
        flops += TokenScores.Flops(learner.Config, seqLen, tokens) + (reference is null ? 0 : TokenScores.Flops(reference.Config, seqLen, tokens));
    }

    /// <summary>The figures since the last call (one optimizer step's): selection FLOPs, and the metrics record's entries.</summary>
    public (double Flops, IReadOnlyDictionary<string, double> Metrics) TakeStep()
    {
        var m = new Dictionary<string, double>
        {
            ["select_scored_tokens"] = scoredTokens, ["select_flops"] = flops,
            ["select_score_selected"] = sumSelected / Math.Max(1, rowsSelected), ["select_score_candidates"] = sumCandidates / Math.Max(1, rowsCandidates),
        };
        var f = flops;
        (scoredTokens, flops, sumSelected, sumCandidates, rowsSelected, rowsCandidates) = (0, 0, 0, 0, 0, 0);
        return (f, m);
    }

    public void Dispose() => reference?.Dispose();
}
