namespace SeekSharp.Data;

/// <summary>
/// Draws (inputs, targets) batches of next-token windows from a <see cref="TokenSplit"/>.
/// </summary>
/// <remarks>
/// Design: a batch depends only on the seed passed for it, never on earlier calls, so a resumed run
/// that passes the same per-step seed sees exactly the batches of the original run. System.Random
/// with an explicit int seed uses a fixed legacy algorithm, which keeps that promise across runs.
/// </remarks>
public sealed class TokenBatchSampler(TokenSplit split)
{
    public TokenSplit Split { get; } = split;

    /// <summary>
    /// Fills row-major (batchSize, seqLen) arrays: each row is a window at a uniformly random start s,
    /// inputs = tokens[s, s+T), targets = tokens[s+1, s+T+1).
    /// </summary>
    public void Sample(long seedForThisBatch, int batchSize, int seqLen, long[] inputs, long[] targets)
    {
        CheckShape(batchSize, seqLen, inputs, targets);
        RequireTokens((long)seqLen + 1, $"a window of sequence length {seqLen}");

        var rng = new Random(FoldSeed(seedForThisBatch));
        // Starts are in [0, Count - seqLen - 1] inclusive, so every target exists.
        var maxStartExclusive = Split.Count - seqLen;
        var window = new int[seqLen + 1];
        for (var b = 0; b < batchSize; b++)
        {
            var start = rng.NextInt64(0, maxStartExclusive);
            FillRow(start, window, b * seqLen, inputs, targets);
        }
    }

    /// <summary>
    /// Deterministic pass over consecutive, non-overlapping windows from the start of the split, for
    /// validation. Yields only full batches; maxBatches &lt;= 0 means as many as the split holds.
    /// Each batch is a fresh pair of arrays.
    /// </summary>
    public IEnumerable<(long[] inputs, long[] targets)> Sequential(int batchSize, int seqLen, int maxBatches)
    {
        if (batchSize <= 0) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "The batch size must be positive.");
        if (seqLen <= 0) throw new ArgumentOutOfRangeException(nameof(seqLen), seqLen, "The sequence length must be positive.");
        // Checked eagerly (not on first MoveNext) so the caller sees the error where it asked.
        RequireTokens((long)batchSize * seqLen + 1, $"one batch of {batchSize} windows of sequence length {seqLen}");
        return Iterate(batchSize, seqLen, maxBatches);
    }

    private IEnumerable<(long[] inputs, long[] targets)> Iterate(int batchSize, int seqLen, int maxBatches)
    {
        var windows = (Split.Count - 1) / seqLen;
        var batches = windows / batchSize;
        if (maxBatches > 0) batches = Math.Min(batches, maxBatches);
        var window = new int[seqLen + 1];
        for (long k = 0; k < batches; k++)
        {
            var inputs = new long[batchSize * seqLen];
            var targets = new long[batchSize * seqLen];
            for (var b = 0; b < batchSize; b++)
                FillRow((k * batchSize + b) * seqLen, window, b * seqLen, inputs, targets);
            yield return (inputs, targets);
        }
    }

    private void FillRow(long start, int[] window, int rowOffset, long[] inputs, long[] targets)
    {
        Split.Read(start, window);
        var seqLen = window.Length - 1;
        for (var t = 0; t < seqLen; t++)
        {
            inputs[rowOffset + t] = window[t];
            targets[rowOffset + t] = window[t + 1];
        }
    }

    private void RequireTokens(long needed, string what)
    {
        if (Split.Count < needed)
            throw new SeekSharpException(
                $"The {Split.Name} split has {Split.Count} tokens, but {what} needs at least {needed}; add data or lower the sequence length or batch size.");
    }

    private static void CheckShape(int batchSize, int seqLen, long[] inputs, long[] targets)
    {
        if (batchSize <= 0) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "The batch size must be positive.");
        if (seqLen <= 0) throw new ArgumentOutOfRangeException(nameof(seqLen), seqLen, "The sequence length must be positive.");
        var n = (long)batchSize * seqLen;
        if (inputs.Length != n || targets.Length != n)
            throw new ArgumentException($"inputs and targets must each hold batchSize * seqLen = {n} elements; got {inputs.Length} and {targets.Length}.");
    }

    // Both halves of the 64-bit seed matter, so seeds differing only in high bits give different batches.
    private static int FoldSeed(long seed)
    {
        var x = (ulong)seed;
        x ^= x >> 33;
        x *= 0xff51afd7ed558ccdUL;
        x ^= x >> 33;
        return (int)(x ^ (x >> 32));
    }
}
