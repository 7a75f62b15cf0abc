using TorchSharp;
using SeekSharp.Checkpoints;
using SeekSharp.Data;
using SeekSharp.Modeling;
using static TorchSharp.torch;

namespace SeekSharp.Training;

// A model in pretraining: the Transformer (initialized from the seed, on the device, in the run's precision),
// its AdamW, and the next-token step on a token split whose batch (step, micro) is drawn from
// Pretrainer.BatchSeed, so it depends on the step number alone. `seek base train` runs one through StepLoop;
// `seek bench race` alternates the steps of several, which therefore see the same batches and train exactly
// as `seek base train` would train each.

/// <summary>What runs pretraining's steps for <see cref="Pretrainer.Run"/>: one process (<see cref="PretrainModel"/>) or
/// pipeline stages in other processes. Checkpoints and the final model are ordinary model folders either way.</summary>
public interface IPretrainEngine : IDisposable
{
    /// <summary>The model config the run trains (the one written into every checkpoint).</summary>
    ModelConfig Config { get; }
    int TokensPerStep { get; }
    /// <summary>Optimizer step <paramref name="step"/> (0-based) at learning rate <paramref name="lr"/>.</summary>
    StepOutcome Run(TokenBatchSampler train, int step, double lr);
    /// <summary>Further figures for the step's metrics record, or null.</summary>
    IReadOnlyDictionary<string, double>? Extra(StepOutcome r, int step);
    double Evaluate(TokenBatchSampler val);
    /// <summary>Loads weights and optimizer state from a checkpoint folder; returns its counters.</summary>
    TrainerState Restore(string checkpoint);
    /// <summary>Writes a resumable checkpoint (a model folder) of <paramref name="state"/>; returns its folder.</summary>
    string SaveCheckpoint(string runDir, TrainerState state, string tokenizerDir);
    /// <summary>Writes the model files (weights and config) into <paramref name="dir"/>.</summary>
    void SaveModel(string dir);
    /// <summary>Payload bytes this process's steps moved between processes (the ledger's network resource); null in one process.</summary>
    Ledger.LedgerNetwork? Network => null;
}

/// <summary>A Transformer, its optimizer and the pretraining step.</summary>
public sealed class PretrainModel : IPretrainEngine
{
    readonly TrainStep stepper;
    readonly TrainConfig tc;

    public Transformer Model { get; }
    public AdamW Optimizer { get; }
    public int SeqLen { get; }
    public Device Device { get; }
    public int TokensPerStep => stepper.TokensPerStep;

    /// <summary>Online batch selection: when set, each micro-batch is chosen from a larger candidate batch (decision 0024).</summary>
    public Selection.OnlineSelection? Selection { get; set; }

    /// <param name="cfg">Validated here.</param>
    public PretrainModel(ModelConfig cfg, TrainConfig tc, int seqLen)
    {
        this.tc = tc;
        SeqLen = seqLen;
        Device = new Device(tc.Device);
        Model = new Transformer(cfg.Validate(), tc.Seed);
        Model.to(Device);
        TrainingPrecision.Apply(Model, tc.Precision);
        Model.train();
        Optimizer = AdamW.Flat(Model, tc);
        stepper = new TrainStep(Model, Optimizer, tc, seqLen, Device);
    }

    /// <summary>Optimizer step <paramref name="step"/> (0-based) at learning rate <paramref name="lr"/>.</summary>
    /// <param name="onBatch">Sees each micro-batch's inputs (batch_size·seq_len ids) once drawn.</param>
    public StepOutcome Run(TokenBatchSampler train, int step, double lr, Action<long[]>? onBatch = null)
    {
        stepper.MtpWeight = tc.MtpWeightAt(step);
        return stepper.Run(lr, micro =>
        {
            var seed = Pretrainer.BatchSeed(tc.Seed, step, micro);
            if (Selection is { } sel) sel.Fill(train, seed, tc.BatchSize, SeqLen, Model, stepper.Inputs, stepper.Targets);
            else train.Sample(seed, tc.BatchSize, SeqLen, stepper.Inputs, stepper.Targets);
            onBatch?.Invoke(stepper.Inputs);
        });
    }

    public ModelConfig Config => Model.Config;
    StepOutcome IPretrainEngine.Run(TokenBatchSampler train, int step, double lr) => Run(train, step, lr);
    public IReadOnlyDictionary<string, double>? Extra(StepOutcome r, int step) => MtpExtra(r, step);
    public TrainerState Restore(string checkpoint) => TrainingCheckpoint.Restore(checkpoint, Model, Optimizer);
    public string SaveCheckpoint(string runDir, TrainerState state, string tokenizerDir) =>
        TrainingCheckpoint.Save(runDir, Model, Optimizer, state, tokenizerDir: tokenizerDir, maxShardBytes: tc.MaxShardBytes);
    public void SaveModel(string dir) => ModelFiles.Save(dir, Model, maxShardBytes: tc.MaxShardBytes);

    /// <summary>The metrics record's MTP figures of a step: mtp_loss_k per depth and mtp_weight; null without MTP.</summary>
    public IReadOnlyDictionary<string, double>? MtpExtra(StepOutcome r, int step)
    {
        if (r.MtpLosses is null) return null;
        var d = new Dictionary<string, double> { ["mtp_weight"] = tc.MtpWeightAt(step) };
        for (int k = 0; k < r.MtpLosses.Length; k++) d[$"mtp_loss_{k + 1}"] = r.MtpLosses[k];
        return d;
    }

    /// <summary>Validation loss (<see cref="Pretrainer.Evaluate"/>).</summary>
    public double Evaluate(TokenBatchSampler val) => Pretrainer.Evaluate(Model, val, tc, SeqLen, Device);

    /// <summary>Bytes of the training state: fp32 weights, their gradients, AdamW's two moments (those started) and the
    /// bf16 working copies with their gradients.</summary>
    public long StateBytes()
    {
        long bytes = 0;
        foreach (var p in Model.parameters())
        {
            bytes += p.numel() * p.element_size();
            if (p.grad is { } g) bytes += g.numel() * g.element_size();
        }
        foreach (var t in Optimizer.StateTensors().Values) bytes += t.numel() * t.element_size();
        return bytes + Optimizer.WorkingBytes;
    }

    public void Dispose()
    {
        Selection?.Dispose();
        Optimizer.Dispose();
        Model.Dispose();
    }
}
