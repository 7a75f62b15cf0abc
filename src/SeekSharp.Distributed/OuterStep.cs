namespace SeekSharp.Distributed;

// DiLoCo's outer optimizer (Douillard et al. 2023, Algorithm 1): the pseudo-gradients Δ_k = θ_start − θ_k of the
// workers are averaged, weighted by the tokens each trained on (a worker with a larger batch saw more data), and
// applied by SGD with Nesterov momentum, as torch.optim.SGD(nesterov=True) does it:
//   m ← μ·m + Δ;   θ ← θ − η·(Δ + μ·m)
// The paper's defaults, η = 0.7 and μ = 0.9, are the hub's.

public sealed class OuterStep(int length, double lr, double momentum)
{
    public float[] Momentum { get; } = new float[length];
    public double Lr => lr;
    public double Mu => momentum;

    /// <summary>Token-weighted mean of the updates.</summary>
    public static float[] Average(IReadOnlyList<(float[] Delta, long Tokens)> updates)
    {
        if (updates.Count == 0) throw new ArgumentException("no updates to average", nameof(updates));
        int n = updates[0].Delta.Length;
        var mean = new double[n];
        double total = updates.Sum(u => (double)Math.Max(1, u.Tokens));
        foreach (var (d, t) in updates)
        {
            if (d.Length != n) throw new ArgumentException("updates of different lengths", nameof(updates));
            double w = Math.Max(1, t) / total;
            for (int i = 0; i < n; i++) mean[i] += w * d[i];
        }
        return Array.ConvertAll(mean, v => (float)v);
    }

    /// <summary>The change to add to the weights for the averaged pseudo-gradient <paramref name="delta"/> (also updates the momentum).</summary>
    public float[] Change(ReadOnlySpan<float> delta)
    {
        if (delta.Length != Momentum.Length) throw new ArgumentException($"delta has {delta.Length} values, expected {Momentum.Length}", nameof(delta));
        var change = new float[delta.Length];
        float mu = (float)momentum, eta = (float)lr;
        for (int i = 0; i < change.Length; i++)
        {
            Momentum[i] = mu * Momentum[i] + delta[i];
            change[i] = -eta * (delta[i] + mu * Momentum[i]);
        }
        return change;
    }
}
