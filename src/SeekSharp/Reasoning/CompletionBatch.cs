using SeekSharp.Modeling;
using static TorchSharp.torch;
using SeekSharp.Native;

namespace SeekSharp.Reasoning;

// Prompt + completion rows, right-padded into one (B, T) batch for a training forward. Right padding
// cannot change real positions under causal attention (the model has no padding mask, and needs none
// here). Position t predicts token t + 1; the mask is 1 where that token belongs to the completion, so
// prompt and padding carry no loss. Log-probabilities are taken under logits / temperature: the policy
// that sampled the completions is the temperature-scaled one, and the importance ratio and the KL must
// compare the same distribution.

/// <summary>Right-padded prompt + completion rows and their completion mask.</summary>
public sealed class CompletionBatch
{
    public long[] Inputs { get; }
    public float[] Mask { get; }
    public long[] Targets { get; }
    public int Rows { get; }
    public int Length { get; }
    /// <summary>Real (non-pad) input positions, for throughput.</summary>
    public long Tokens { get; }

    public CompletionBatch(IReadOnlyList<(int[] Prompt, int[] Completion)> rows, int padId)
    {
        if (rows.Count == 0) throw new ArgumentException("empty batch", nameof(rows));
        Rows = rows.Count;
        Length = Math.Max(1, rows.Max(r => r.Prompt.Length + r.Completion.Length) - 1);
        Inputs = new long[Rows * Length];
        Targets = new long[Rows * Length];
        Mask = new float[Rows * Length];
        Array.Fill(Inputs, padId);
        Array.Fill(Targets, padId);
        long tokens = 0;
        for (int r = 0; r < Rows; r++)
        {
            var (p, c) = rows[r];
            int n = p.Length + c.Length;
            int Token(int i) => i < p.Length ? p[i] : c[i - p.Length];
            for (int t = 0; t + 1 < n; t++)
            {
                int at = r * Length + t;
                Inputs[at] = Token(t);
                Targets[at] = Token(t + 1);
                Mask[at] = t + 1 >= p.Length ? 1 : 0;
                tokens++;
            }
        }
        Tokens = tokens;
    }

    /// <summary>Log-probabilities (B, T) of the targets under the model at <paramref name="temperature"/>, and, when
    /// <paramref name="withEntropy"/>, the per-position entropy (B, T) without gradient.</summary>
    public (Tensor LogProbs, Tensor? Entropy) LogProbs(Transformer model, double temperature, Device device, bool withEntropy = false)
    {
        using var scope = NewDisposeScope();
        var (logits, _) = model.Forward(tensor(Inputs, [Rows, Length]).to(device));   // (B, T, V) fp32
        if (temperature != 1) logits = logits / Scalars.Of(temperature);
        var lsm = logits.log_softmax(-1);
        var logp = lsm.gather(-1, tensor(Targets, [Rows, Length, 1]).to(device)).squeeze(-1);
        Tensor? entropy = null;
        if (withEntropy)
            using (no_grad()) entropy = -(lsm.exp() * lsm).sum(-1);
        return (logp.MoveToOuterDisposeScope(), entropy?.MoveToOuterDisposeScope());
    }

    public Tensor MaskTensor(Device device) => tensor(Mask, [Rows, Length]).to(device);
}
