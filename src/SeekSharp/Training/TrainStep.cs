using SeekSharp.Modeling;
using static TorchSharp.torch;

namespace SeekSharp.Training;

// One optimizer step, shared by the pretraining loop and `seek bench train` so the benchmark measures
// exactly what training runs: micro-batches forward and backward inside dispose scopes, global-norm
// clipping, AdamW, then the routers' bias update from the load they saw during the step.

/// <summary>The result of one optimizer step.</summary>
public readonly record struct StepOutcome(double Loss, double AuxLoss, double GradNorm, IReadOnlyDictionary<int, double[]> ExpertLoad);

/// <summary>Runs optimizer steps of a model with a fixed batch shape.</summary>
public sealed class TrainStep(Transformer model, AdamW optimizer, TrainConfig tc, int seqLen, Device device)
{
    readonly IReadOnlyList<(int Layer, Gate Gate)> gates = model.Gates;
    public long[] Inputs { get; } = new long[tc.BatchSize * seqLen];
    public long[] Targets { get; } = new long[tc.BatchSize * seqLen];
    public int TokensPerStep => tc.BatchSize * seqLen * tc.GradAccum;

    /// <param name="fillBatch">Fills <see cref="Inputs"/> and <see cref="Targets"/> for micro-batch i.</param>
    public StepOutcome Run(double lr, Action<int> fillBatch)
    {
        int b = tc.BatchSize;
        double lossSum = 0, auxSum = 0, gradNorm;
        foreach (var (_, g) in gates) g.ResetLoad();
        for (int micro = 0; micro < tc.GradAccum; micro++)
        {
            fillBatch(micro);
            using var scope = NewDisposeScope();
            var x = tensor(Inputs, [b, seqLen]).to(device);
            var y = tensor(Targets, [b * seqLen]).to(device);
            var (logits, aux) = model.Forward(x);
            var loss = nn.functional.cross_entropy(logits.view(-1, model.Config.VocabSize), y);
            var total = aux is null ? loss : loss + aux;
            (total / tc.GradAccum).backward();
            lossSum += loss.item<float>();
            if (aux is not null) auxSum += aux.item<float>();
        }
        using (NewDisposeScope())
            gradNorm = tc.GradClip > 0 ? nn.utils.clip_grad_norm_(model.parameters(), tc.GradClip) : GlobalNorm();
        optimizer.Update(lr);
        optimizer.ZeroGrad();

        var load = new Dictionary<int, double[]>();
        foreach (var (layer, g) in gates)
        {
            var counts = g.Load;
            double sum = Math.Max(1, counts.Sum());
            load[layer] = counts.Select(c => c / sum).ToArray();
            g.UpdateBias(tc.BiasUpdateSpeed);
        }
        return new StepOutcome(lossSum / tc.GradAccum, auxSum / tc.GradAccum, gradNorm, load);
    }

    double GlobalNorm()
    {
        double sq = 0;
        foreach (var p in model.parameters())
            if (p.grad is { } g) sq += g.pow(2).sum().item<float>();
        return Math.Sqrt(sq);
    }
}
