using TorchSharp;
using System.Text.Json;
using SeekSharp.Checkpoints;
using SeekSharp.Data;
using SeekSharp.IO;
using SeekSharp.Ledger;
using SeekSharp.Modeling;
using SeekSharp.Tokenization;
using static TorchSharp.torch;

namespace SeekSharp.Training;

// Pretraining: next-token steps on the shared StepLoop (schedule, metrics, checkpoints, resume).
// Determinism is what makes --resume exact: the model is initialized from the seed, and the batch of (step, micro-batch) is drawn from a generator seeded by (seed, step, micro),
// so a resumed run sees the same batches as an uninterrupted one and, with the restored weights,
// optimizer moments and router biases, reproduces its losses. Each step runs inside a dispose scope so
// native memory is returned every step instead of waiting for the GC.

/// <summary>What to pretrain, on what, and where.</summary>
/// <param name="ReferenceDir">The reference model of online selection by excess loss (TrainConfig.Select), same tokenizer as the data.</param>
/// <param name="Engine">Builds what runs the steps from the run's model config (vocabulary set from the data), train config
/// and sequence length; null: one process (<see cref="PretrainModel"/>). Pipeline stages across processes plug in here.</param>
/// <param name="InitDir">A model folder whose weights the run starts from (continued pretraining, DiLoCo's warm start):
/// <see cref="Model"/> must be its config and the data tokenized with its tokenizer. Ignored on --resume (the checkpoint
/// holds the weights).</param>
public sealed record PretrainOptions(string DataDir, string RunDir, ModelConfig Model, TrainConfig Train, bool Resume = false,
    string? HardwareProfilePath = null, string? ReferenceDir = null, Func<ModelConfig, TrainConfig, int, IPretrainEngine>? Engine = null,
    string? InitDir = null);

/// <summary>What a finished run reports.</summary>
/// <param name="FinalMtpLosses">The last step's MTP cross-entropy per depth; null without MTP.</param>
/// <param name="Selection">What online selection scored and cost in this process; null without selection.</param>
public sealed record PretrainResult(string RunDir, int Steps, double FinalLoss, double? FinalValLoss, double TokensPerSecond, LedgerEntry Ledger,
    double[]? FinalMtpLosses = null, SelectionTotals? Selection = null);

/// <summary>Online selection's totals: candidate tokens scored, tokens trained on, and the scoring FLOPs.</summary>
public sealed record SelectionTotals(string Score, int Ratio, long ScoredTokens, long TrainedTokens, double Flops);

public static class Pretrainer
{
    public static long BatchSeed(int seed, int step, int micro) => ((long)seed * 1_000_003L + step) * 1009L + micro;

    public static PretrainResult Run(PretrainOptions o, ITrainingObserver? observer = null)
    {
        CheckSelectionFlags(o);
        var tc = o.Train.Validate();
        using var ds = TokenDataset.Open(o.DataDir);
        var reference = CheckSelection(o, ds);
        var cfg = o.Model;
        if (o.InitDir is not null)
        {
            // Before any engine exists: a pipeline's would have started its stage processes already.
            if (o.Engine is not null)
                throw new SeekSharpException("--init: starting from a model folder runs in one process; it does not combine with --pipeline-stages.");
            CheckInit(o.InitDir, cfg, ds);
        }
        else if (cfg.VocabSize != ds.VocabSize)
        {
            observer?.OnMessage($"vocab_size set to the tokenizer's {ds.VocabSize} (preset had {cfg.VocabSize}).");
            cfg = cfg with { VocabSize = ds.VocabSize };
        }
        int seqLen = tc.SeqLen == 0 ? cfg.MaxPositionEmbeddings : tc.SeqLen;
        if (seqLen > cfg.MaxPositionEmbeddings)
            throw new SeekSharpException($"seq_len {seqLen} exceeds the model's max_position_embeddings ({cfg.MaxPositionEmbeddings}).");

        if (!o.Resume) TrainingCheckpoint.RefuseExisting(o.RunDir);
        using var run = o.Engine?.Invoke(cfg, tc, seqLen) ?? new PretrainModel(cfg, tc, seqLen);
        if (tc.Select != "none")
        {
            if (run is not PretrainModel one)
                throw new SeekSharpException("--select: online selection scores candidates with the whole model in one process; it does not combine with --pipeline-stages.");
            one.Selection = new Selection.OnlineSelection(tc.Select, tc.SelectRatio,
                reference is null ? null : Selection.DataSelection.Load(reference, tc.Precision == "fp32" ? "fp32" : "bf16", one.Device), one.Device);
        }

        var state = new TrainerState { Train = tc };
        string? resumedFrom = null;
        if (o.Resume) (state, resumedFrom) = ResumeFrom(o.RunDir, run, tc, observer);
        else if (o.InitDir is not null)
        {
            var one = (PretrainModel)run;   // o.Engine is null (checked above)
            ModelFiles.LoadWeights(one.Model, o.InitDir);
            one.Optimizer.WeightsChanged();
            observer?.OnMessage($"starting from the weights of {o.InitDir}.");
        }
        WriteRunFiles(o, cfg, tc);

        using var metrics = StepLoop.OpenMetrics(o.RunDir, state.Step);
        using var ledger = RunLedger.Continue("pretrain", HardwareProfile.Resolve(o.HardwareProfilePath), state.Ledger, o.RunDir, resumedFrom);
        ledger.RecordData(o.DataDir);
        var cost = ModelCost.Of(cfg, seqLen);
        var train = new TokenBatchSampler(ds.Train);
        var val = ds.ValTokens > (long)tc.BatchSize * seqLen + 1 ? new TokenBatchSampler(ds.Val) : null;
        if (val is null) observer?.OnMessage($"validation split ({ds.ValTokens} tokens) too small for one batch of {tc.BatchSize}x{seqLen}; skipping validation.");

        var checkpoints = new LoopCheckpoints(state, s =>
        {
            ledger.RecordStorage(run.SaveCheckpoint(o.RunDir, s, o.RunDir), StorageKind.Checkpoint);
            TrainingCheckpoint.Prune(o.RunDir, tc.KeepCheckpoints);
        });
        double[]? lastMtp = null;
        var selection = (run as PretrainModel)?.Selection;
        SelectionTotals? selected = selection is null ? null : new SelectionTotals(tc.Select, tc.SelectRatio, 0, 0, 0);
        var loop = StepLoop.Run(tc, metrics, ledger, cost.PretrainingFlopsPerToken, observer,
            (step, lr) =>
            {
                var r = run.Run(train, step, lr);
                lastMtp = r.MtpLosses;
                var extra = run.Extra(r, step);
                if (selection is null) return new LoopStep(r, run.TokensPerStep, extra);
                var (flops, figures) = selection.TakeStep();
                selected = selected! with
                {
                    ScoredTokens = selected.ScoredTokens + (long)figures["select_scored_tokens"], TrainedTokens = selected.TrainedTokens + run.TokensPerStep,
                    Flops = selected.Flops + flops,
                };
                return new LoopStep(r, run.TokensPerStep, extra is null ? figures : figures.Concat(extra).ToDictionary(), flops);
            },
            val is null ? null : () => new LoopEval(run.Evaluate(val)), checkpoints);

        // The final model and ledger come after the last checkpoint: a run killed in between is finished by --resume.
        run.SaveModel(o.RunDir);
        ledger.RecordModelFolder(o.RunDir);
        var entry = run.Network is { } network ? ledger.Finish() with { Network = network } : ledger.Finish();
        entry.Write(Path.Combine(o.RunDir, "ledger.json"));
        var total = loop.State;
        return new PretrainResult(o.RunDir, tc.Steps, loop.FinalLoss, loop.FinalEval?.Loss,
            total.TokensSeen / Math.Max(total.ElapsedSeconds, 1e-9), entry, lastMtp, selected);
    }

    static void CheckSelectionFlags(PretrainOptions o)
    {
        var tc = o.Train;
        if (tc.Select is not ("none" or "loss" or "excess-loss"))
            throw new SeekSharpException($"--select: expected none, loss or excess-loss, got '{tc.Select}'.");
        if (tc.Select == "excess-loss" && o.ReferenceDir is null)
            throw new SeekSharpException("--reference: --select excess-loss needs a reference model folder (a small model trained on held-out target data).");
        if (tc.Select != "excess-loss" && o.ReferenceDir is not null)
            throw new SeekSharpException($"--reference: only --select excess-loss uses a reference model (got --select {tc.Select}).");
        if (tc.Select == "none" && tc.SelectRatio != new TrainConfig().SelectRatio)
            throw new SeekSharpException("--select-ratio: only with --select loss or excess-loss.");
        if (tc.Select != "none" && tc.SelectRatio is < 2 or > 64)
            throw new SeekSharpException($"--select-ratio: expected 2 to 64 candidates per trained window, got {tc.SelectRatio}.");
    }

    /// <summary>The reference folder online selection reads (null for none, or for loss selection), after checking its tokenizer.</summary>
    static string? CheckSelection(PretrainOptions o, TokenDataset ds)
    {
        if (o.ReferenceDir is { } dir) Selection.DataSelection.CheckReference(dir, ds);
        return o.ReferenceDir;
    }

    /// <summary>The config a run from <paramref name="initDir"/> must have, read from its folder; --mtp-depth may add
    /// modules the folder lacks (they start from random weights) but not drop ones it has.</summary>
    public static ModelConfig InitConfig(string initDir, int mtpDepth)
    {
        var cfgPath = Path.Combine(initDir, ModelFiles.ConfigFile);
        if (!File.Exists(cfgPath)) throw new SeekSharpException($"--init: {cfgPath} not found: expected a model folder (config.json, tokenizer, weights).");
        if (Compression.QuantizedFolder.ReadConfig(cfgPath) is { } q)
            throw new SeekSharpException($"--init: {initDir} is a quantized model ({q.Name}); train from its full-precision folder.");
        var cfg = ModelConfig.Load(cfgPath);
        if (mtpDepth != 0 && mtpDepth != cfg.NumNextnPredictLayers)
            throw new SeekSharpException($"--mtp-depth: {initDir} has {cfg.NumNextnPredictLayers} MTP modules (num_nextn_predict_layers); leave --mtp-depth out or pass that number.");
        return cfg;
    }

    static void CheckInit(string initDir, ModelConfig cfg, TokenDataset ds)
    {
        var (_, saved) = Perplexity.CheckDataset(initDir, ds, "train on");
        if (saved.ToJson() != cfg.ToJson())
            throw new SeekSharpException($"--init: the run's model config differs from {Path.Combine(initDir, ModelFiles.ConfigFile)}.");
        if (cfg.VocabSize != ds.VocabSize)
            throw new SeekSharpException($"{Path.Combine(ds.Directory, DatasetManifest.FileName)}: vocab_size {ds.VocabSize} differs from {initDir}'s {cfg.VocabSize}.");
    }

    static (TrainerState State, string Checkpoint) ResumeFrom(string runDir, IPretrainEngine run, TrainConfig tc, ITrainingObserver? observer)
    {
        var ckpt = TrainingCheckpoint.LatestForResume(runDir);
        var saved = ModelConfig.Load(Path.Combine(ckpt, ModelFiles.ConfigFile));
        if (saved.ToJson() != run.Config.ToJson())
            throw new SeekSharpException($"{ckpt}: the checkpoint's model config differs from the requested one (use the same --preset).");
        var state = run.Restore(ckpt);
        StepLoop.CheckResumable(runDir, ckpt, state, tc);
        observer?.OnMessage(state.Step == tc.Steps
            ? $"finishing from {Path.GetFileName(ckpt)} (step {state.Step}, the last): writing the final model."
            : $"resuming from {Path.GetFileName(ckpt)} (step {state.Step}).");
        return (state, ckpt);
    }

    static void WriteRunFiles(PretrainOptions o, ModelConfig cfg, TrainConfig tc)
    {
        Directory.CreateDirectory(o.RunDir);
        AtomicFile.WriteAllText(Path.Combine(o.RunDir, ModelFiles.ConfigFile), cfg.ToJson());
        AtomicFile.WriteAllText(Path.Combine(o.RunDir, "train_config.json"), JsonSerializer.Serialize(tc, TrainConfig.Json));
        BpeTokenizer.CopyFiles(o.DataDir, o.RunDir);
    }

    /// <summary>Mean cross-entropy per token over the first eval_batches validation batches (same batches every time):
    /// the pass `seek eval ppl` makes (<see cref="Perplexity.Measure"/>).</summary>
    public static double Evaluate(Transformer model, TokenBatchSampler val, TrainConfig tc, int seqLen, Device device) =>
        Perplexity.Measure(model, val, tc.BatchSize, seqLen, tc.EvalBatches, device).Loss;
}
