using SeekSharp.Modeling;
using static TorchSharp.torch;
using SeekSharp.Native;

namespace SeekSharp.Training;

// One optimizer step, shared by pretraining, `seek bench train`, SFT and reward-model training, so the
// benchmark measures exactly what training runs: micro-batches forward and backward inside dispose
// scopes, global-norm clipping over the parameters the optimizer trains (all of them in pretraining,
// only the adapters with LoRA, backbone and head for a reward model), AdamW, then the routers' bias
// update from the load they saw during the step. What a micro-batch's loss is belongs to the caller:
// next-token cross-entropy for pretraining (below), masked for SFT, pairwise for reward models.

/// <summary>The result of one optimizer step.</summary>
/// <param name="MtpLosses">Per MTP depth k = 1..D, the mean cross-entropy on token i+k+1 (unweighted); null without MTP.</param>
public readonly record struct StepOutcome(double Loss, double AuxLoss, double GradNorm, IReadOnlyDictionary<int, double[]> ExpertLoad,
    double[]? MtpLosses = null);

/// <summary>One micro-batch's share of a step's objective: the step minimizes Σ (Loss + Aux) over micro-batches,
/// so the caller scales each (e.g. by 1/grad_accum) as it wants them combined. Loss is also what gets logged.</summary>
/// <param name="Mtp">Per MTP depth, its cross-entropy (scaled as Loss is); the step adds their mean times
/// <see cref="TrainStep.MtpWeight"/> to the objective and logs each unweighted.</param>
public readonly record struct MicroLoss(Tensor Loss, Tensor? Aux = null, Tensor[]? Mtp = null);

/// <summary>Runs optimizer steps of a model.</summary>
/// <param name="seqLen">Row length of <see cref="Inputs"/>/<see cref="Targets"/> for the fixed-shape pretraining path; 0 when only
/// the generic <see cref="Run(double, Func{int, MicroLoss})"/> is used.</param>
public sealed class TrainStep(Transformer model, AdamW optimizer, TrainConfig tc, int seqLen, Device device)
{
    readonly IReadOnlyList<(int Layer, Gate Gate)> gates = model.Gates;
    public long[] Inputs { get; } = new long[tc.BatchSize * seqLen];
    public long[] Targets { get; } = new long[tc.BatchSize * seqLen];
    public int TokensPerStep => tc.BatchSize * seqLen * tc.GradAccum;

    /// <summary>Called once per step after every micro-batch's backward and before clipping: a place to edit
    /// gradients (LoRA zeroes the embedding rows it does not train).</summary>
    public Action? OnGradients { get; set; }

    /// <summary>λ of the multi-token-prediction loss for the next step (TrainConfig.MtpWeightAt).</summary>
    public double MtpWeight { get; set; }

    /// <summary>A pretraining step: mean next-token cross-entropy over fixed (batch, seq_len) micro-batches.</summary>
    /// <param name="fillBatch">Fills <see cref="Inputs"/> and <see cref="Targets"/> for micro-batch i.</param>
    public StepOutcome Run(double lr, Action<int> fillBatch) => Run(lr, micro =>
    {
        fillBatch(micro);
        var x = tensor(Inputs, [tc.BatchSize, seqLen]).to(device);
        var y = tensor(Targets, [tc.BatchSize * seqLen]).to(device);
        var scale = Scalars.Of(tc.GradAccum);
        if (model.MtpDepth > 0)
        {
            var (main, a, mtp) = model.ForwardMtp(x);
            var targets = y.view(tc.BatchSize, seqLen);
            var depth = mtp.Select((m, i) => nn.functional.cross_entropy(m.reshape(-1, model.Config.VocabSize),
                targets.narrow(1, i + 1, seqLen - i - 1).reshape(-1)) / scale).ToArray();
            var mainLoss = nn.functional.cross_entropy(main.view(-1, model.Config.VocabSize), y);
            return new MicroLoss(mainLoss / scale, a is null ? null : a / scale, depth);
        }
        var (logits, aux) = model.Forward(x);
        var loss = nn.functional.cross_entropy(logits.view(-1, model.Config.VocabSize), y);
        return new MicroLoss(loss / scale, aux is null ? null : aux / scale);
    });

    /// <summary>A step over grad_accum micro-batches whose losses <paramref name="microLoss"/> computes (inside a dispose scope per micro-batch).</summary>
    public StepOutcome Run(double lr, Func<int, MicroLoss> microLoss)
    {
        double lossSum = 0, auxSum = 0, gradNorm;
        double[]? mtpSums = null;
        foreach (var (_, g) in gates) g.ResetLoad();
        for (int micro = 0; micro < tc.GradAccum; micro++)
        {
            using var scope = NewDisposeScope();
            var (loss, aux, mtp) = microLoss(micro);
            var objective = aux is null ? loss : loss.add(aux, Scalars.One);
            if (mtp is { Length: > 0 })
            {
                // L = L_main + λ/D Σ_k L_k (DeepSeek-V3 eq. 25).
                var sum = mtp[0];
                for (int k = 1; k < mtp.Length; k++) sum = sum.add(mtp[k], Scalars.One);
                objective = objective.add(sum, Scalars.Of(MtpWeight / mtp.Length));
                mtpSums ??= new double[mtp.Length];
                for (int k = 0; k < mtp.Length; k++) mtpSums[k] += mtp[k].item<float>();
            }
            objective.backward();
            optimizer.Collect();
            lossSum += loss.item<float>();
            if (aux is not null) auxSum += aux.item<float>();
        }
        OnGradients?.Invoke();
        gradNorm = optimizer.ClipGradients(tc.GradClip);
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
        return new StepOutcome(lossSum, auxSum, gradNorm, load, mtpSums);
    }
}
