using SeekSharp.Training;

namespace SeekSharp.Alignment;

// Padding, not packing: conversations are right-padded to the longest in the micro-batch. The model has
// no document mask, so packing several conversations into one row would let each attend to the ones
// before it; with causal attention, right padding cannot affect real positions, so a padded row computes
// exactly what the conversation alone would. The cost is compute on pad positions, small when
// conversations of one task have similar lengths (synthetic problems do). The padded length is rounded
// up to a multiple of LengthQuantum: with a new length every batch, bf16 matmuls (oneDNN primitives built
// per shape) and the allocator never warm up. Measured on this CPU, tiny preset, 30 SFT steps of 16
// arithmetic conversations: exact lengths ran 1,127 tokens/s in bf16 against 5,611 in fp32.

/// <summary>A right-padded (Rows, Length) batch for next-token training with a loss mask.</summary>
/// <param name="Inputs">(Rows·Length) input ids, padded with the tokenizer's pad id.</param>
/// <param name="Targets">(Rows·Length) next-token targets; <see cref="LmLoss.Ignore"/> wherever the next token is not
/// assistant content (prompt, role tokens, padding).</param>
/// <param name="LossTokens">Positions that carry loss.</param>
/// <param name="Tokens">Real (non-pad) input positions.</param>
public sealed record ChatBatch(long[] Inputs, long[] Targets, int Rows, int Length, int LossTokens, int Tokens)
{
    /// <summary>Padded lengths are multiples of this (unless capped by the context).</summary>
    public const int LengthQuantum = 16;

    /// <param name="maxLength">The model's context: the padded length never exceeds it.</param>
    public static ChatBatch Collate(IReadOnlyList<ChatTokens> rows, int padId, int maxLength)
    {
        if (rows.Count == 0) throw new ArgumentException("empty batch", nameof(rows));
        int longest = rows.Max(r => r.Ids.Length) - 1;
        if (longest > maxLength) throw new ArgumentException($"a conversation of {longest + 1} tokens does not fit {maxLength}", nameof(rows));
        int length = Math.Min(maxLength, (longest + LengthQuantum - 1) / LengthQuantum * LengthQuantum);
        var inputs = new long[rows.Count * length];
        var targets = new long[rows.Count * length];
        int lossTokens = 0, tokens = 0;
        for (int r = 0; r < rows.Count; r++)
        {
            var (ids, mask) = (rows[r].Ids, rows[r].Mask);
            for (int t = 0; t < length; t++)
            {
                int at = r * length + t;
                bool real = t + 1 < ids.Length;
                inputs[at] = real ? ids[t] : padId;
                targets[at] = real && mask[t + 1] ? ids[t + 1] : LmLoss.Ignore;
                if (real) tokens++;
                if (targets[at] != LmLoss.Ignore) lossTokens++;
            }
        }
        return new ChatBatch(inputs, targets, rows.Count, length, lossTokens, tokens);
    }
}

/// <summary>Which examples each micro-batch takes: epochs of seeded permutations, walked in order, so step s,
/// micro-batch m always gets the same examples for a given seed.</summary>
public sealed class EpochSampler(int count, int seed)
{
    readonly Dictionary<int, int[]> permutations = [];

    /// <summary>Indices of the <paramref name="size"/> examples at position <paramref name="batchIndex"/> of the stream.</summary>
    public int[] Batch(long batchIndex, int size)
    {
        var result = new int[size];
        for (int i = 0; i < size; i++)
        {
            long g = batchIndex * size + i;
            result[i] = Permutation((int)(g / count))[(int)(g % count)];
        }
        return result;
    }

    int[] Permutation(int epoch)
    {
        if (permutations.TryGetValue(epoch, out var p)) return p;
        p = Enumerable.Range(0, count).ToArray();
        new Random(unchecked(seed * 1_000_003 + epoch)).Shuffle(p); // not HashCode: it is randomized per process
        if (permutations.Count > 4) permutations.Clear();
        return permutations[epoch] = p;
    }
}
