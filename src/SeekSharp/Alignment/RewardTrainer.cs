using System.Text.Json;
using System.Text.Json.Serialization;
using SeekSharp.Checkpoints;
using SeekSharp.IO;
using SeekSharp.Ledger;
using SeekSharp.Modeling;
using SeekSharp.Reports;
using SeekSharp.Training;
using SeekSharp.Native;
using static TorchSharp.torch;

namespace SeekSharp.Alignment;

// Reward-model training: all backbone weights plus the head, AdamW, the shared step and loop. A batch of
// B pairs is one forward over 2B sequences (chosen then rejected); a batch of B labelled samples is B
// sequences. Logged per step besides the loss: accuracy (chosen scored above rejected, or the sign of
// the score matching the label) and, for pairs, the mean margin score(chosen) − score(rejected).
// Checkpoints (checkpoint_every > 0) are reward-model folders (backbone, head, reward_config.json,
// tokenizer); a resume restores backbone, head and the optimizer's moments of both.

/// <summary>A reward-model run. Immutable; saved as rm_config.json in the output folder.</summary>
public sealed record RewardConfig
{
    /// <summary>Model folder whose weights start the backbone.</summary>
    [JsonPropertyName("model")] public string ModelDir { get; init; } = "";
    /// <summary>Reward JSONL (preference pairs or labelled samples).</summary>
    [JsonPropertyName("data")] public string DataPath { get; init; } = "";
    /// <summary>Output reward-model folder.</summary>
    [JsonPropertyName("out")] public string OutDir { get; init; } = "";
    /// <summary>Passes over the training records; when positive it sets train.steps.</summary>
    [JsonPropertyName("epochs")] public double Epochs { get; init; }
    /// <summary>Fraction of records held out for validation.</summary>
    [JsonPropertyName("val_fraction")] public double ValFraction { get; init; } = 0.05;
    /// <summary>Optimization settings (batch_size = pairs or samples per micro-batch).</summary>
    [JsonPropertyName("train")] public TrainConfig Train { get; init; } = DefaultTrain;
    /// <summary>Hardware profile for the ledger; not saved.</summary>
    [JsonIgnore] public string? HardwareProfilePath { get; init; }
    /// <summary>Continue the run in OutDir from its latest checkpoint (same settings); not saved.</summary>
    [JsonIgnore] public bool Resume { get; init; }

    /// <summary>A lower peak than SFT (the head starts random and would otherwise drag the backbone), no weight decay.</summary>
    public static TrainConfig DefaultTrain { get; } = SftConfig.DefaultTrain with { LearningRate = 3e-4, BatchSize = 8 };

    public RewardConfig Validate()
    {
        if (string.IsNullOrWhiteSpace(ModelDir)) throw new SeekSharpException("rm config: 'model' (--model) is required.");
        if (string.IsNullOrWhiteSpace(OutDir)) throw new SeekSharpException("rm config: 'out' (--out) is required.");
        if (Epochs < 0) throw new SeekSharpException($"rm config: 'epochs' must be 0 (use steps) or positive, got {Epochs}.");
        if (ValFraction is < 0 or >= 1) throw new SeekSharpException($"rm config: 'val_fraction' must be in [0, 1), got {ValFraction}.");
        Train.Validate("rm config: train");
        return this;
    }
}

/// <summary>What a finished reward-model run reports.</summary>
public sealed record RewardResult(string OutDir, RewardObjective Objective, int Steps, int TrainRecords, int ValRecords,
    double FinalLoss, double? FinalValLoss, double? FinalValAccuracy, LedgerEntry Ledger);

/// <summary>The objectives, as pure tensor functions.</summary>
public static class RewardLoss
{
    /// <summary>Bradley–Terry: mean −log σ(r_chosen − r_rejected) = mean softplus(r_rejected − r_chosen).</summary>
    public static Tensor BradleyTerry(Tensor chosen, Tensor rejected) => nn.functional.softplus(rejected - chosen).mean();

    /// <summary>Mean binary cross-entropy of σ(score) against 0/1 labels.</summary>
    public static Tensor Bce(Tensor scores, Tensor labels) => nn.functional.binary_cross_entropy_with_logits(scores, labels);
}

public static class RewardTrainer
{
    public const string ConfigFile = "rm_config.json";

    sealed record Encoded(int[] First, int[]? Second, float Label);

    public static RewardResult Run(RewardConfig config, ITrainingObserver? observer = null)
    {
        config.Validate();
        var (records, objective) = RewardData.Read(config.DataPath);
        var resumeFrom = FineTuneResume.Prepare(config.ModelDir, config.OutDir, config.Resume);
        var tc = config.Train;
        var device = new Device(tc.Device);
        using var rm = RewardModel.FromBase(config.ModelDir, objective, tc.Seed, device);
        bool pairs = objective == RewardObjective.BradleyTerry;
        var encoded = records.Select(r =>
        {
            var prompt = rm.EncodePrompt(r.Prompt);
            return new Encoded(rm.Sequence(prompt, rm.EncodeCompletion(r.Chosen)),
                pairs ? rm.Sequence(prompt, rm.EncodeCompletion(r.Rejected!)) : null, (float)(r.Label ?? 1));
        }).ToList();
        var (train, val) = FineTuning.Split(encoded, config.ValFraction, tc.Seed);
        if (config.Epochs > 0) tc = tc with { Steps = Math.Max(1, (int)Math.Ceiling(config.Epochs * train.Count / (tc.BatchSize * tc.GradAccum))) };

        TrainingPrecision.Apply(rm.Backbone, tc.Precision);
        rm.Backbone.train();
        using var optimizer = new AdamW(rm.NamedParameters(), tc);
        var start = new TrainerState { Train = tc };
        if (resumeFrom is not null)
        {
            start = FineTuneResume.Check(resumeFrom, tc, TrainingCheckpoint.Restore(resumeFrom, rm.Backbone, optimizer), observer);
            LoadHead(rm, Path.Combine(resumeFrom, RewardModel.HeadFile));
        }
        var stepper = new TrainStep(rm.Backbone, optimizer, tc, 0, device);
        var sampler = new EpochSampler(train.Count, tc.Seed);
        int batch = Math.Min(tc.BatchSize, train.Count);

        AtomicFile.WriteAllText(Path.Combine(config.OutDir, ConfigFile), JsonSerializer.Serialize(config with { Train = tc }, SftConfig.Json));
        using var metrics = StepLoop.OpenMetrics(config.OutDir, start.Step);
        using var ledger = RunLedger.Continue("reward-model", HardwareProfile.Resolve(config.HardwareProfilePath), start.Ledger, config.OutDir, resumeFrom);
        // One source, the file; its origin is what its DataOrigin record says (preferences are usually people's, but only they can say so).
        ledger.RecordData(new LedgerData
        {
            Dataset = config.DataPath, Treatment = LedgerData.AsGiven,
            Sources = [new LedgerDataSource(Path.GetFileName(config.DataPath), records.Count, records.Count, new FileInfo(config.DataPath).Length,
                encoded.Sum(e => (long)e.First.Length + (e.Second?.Length ?? 0)), 0, DataOrigin.Read(config.DataPath),
                DataOrigin.AcquisitionUsd(config.DataPath))],
        });
        var cost = ModelCost.Of(rm.Backbone.Config);
        var checkpoints = tc.CheckpointEvery == 0 ? null : new LoopCheckpoints(start, s =>
        {
            ledger.RecordStorage(TrainingCheckpoint.Save(config.OutDir, rm.Backbone, optimizer, s, tokenizerDir: config.ModelDir, extra: rm.SaveHead),
                StorageKind.Checkpoint);
            TrainingCheckpoint.Prune(config.OutDir, tc.KeepCheckpoints);
        });

        var loop = StepLoop.Run(tc, metrics, ledger, cost.TrainingFlopsPerToken, observer, (step, lr) =>
        {
            double correct = 0, margin = 0, count = 0;
            long tokens = 0;
            var outcome = stepper.Run(lr, micro =>
            {
                var rows = sampler.Batch((long)step * tc.GradAccum + micro, batch).Select(i => train[i]).ToList();
                var (loss, c, m) = Objective(rm, rows, pairs);
                correct += c; margin += m; count += rows.Count;
                tokens += rows.Sum(r => (long)r.First.Length + (r.Second?.Length ?? 0));
                return new MicroLoss(loss / tc.GradAccum);
            });
            var extra = new Dictionary<string, double> { ["accuracy"] = correct / count };
            if (pairs) extra["margin"] = margin / count;
            return new LoopStep(outcome, tokens, extra);
        }, val.Count > 0 ? () => Evaluate(rm, val, pairs, batch, tc.EvalBatches) : null, checkpoints);

        rm.Save(config.OutDir);
        ledger.RecordModelFolder(config.OutDir);
        var entry = ledger.Finish();
        entry.Write(Path.Combine(config.OutDir, "ledger.json"));
        metrics.Dispose();
        RunReport.Write(config.OutDir, $"Reward model ({RewardModelInfo.Name(objective)})");
        return new RewardResult(config.OutDir, objective, tc.Steps, train.Count, val.Count, loop.FinalLoss, loop.FinalEval?.Loss,
            loop.FinalEval?.Extra?["accuracy"], entry);
    }

    /// <summary>Copies a saved head into <paramref name="rm"/>'s (the optimizer holds those parameters).</summary>
    static void LoadHead(RewardModel rm, string path)
    {
        if (!File.Exists(path)) throw new SeekSharpException($"{path}: reward head not found.");
        var tensors = Safetensors.Load(path);
        try
        {
            using var _ = no_grad();
            foreach (var (name, p) in rm.HeadParameters)
            {
                if (!tensors.TryGetValue(name, out var t)) throw new SeekSharpException($"{path}: missing tensor '{name}'.");
                if (!t.shape.SequenceEqual(p.shape))
                    throw new SeekSharpException($"{path}: tensor '{name}' has shape [{string.Join(",", t.shape)}], expected [{string.Join(",", p.shape)}].");
                p.copy_(t);
            }
        }
        finally { foreach (var t in tensors.Values) t.Dispose(); }
    }

    /// <summary>Mean loss of a batch, and the batch's count of correct orderings and summed margin.</summary>
    static (Tensor Loss, double Correct, double Margin) Objective(RewardModel rm, IReadOnlyList<Encoded> rows, bool pairs)
    {
        if (pairs)
        {
            var s = rm.Scores([.. rows.Select(r => r.First), .. rows.Select(r => r.Second!)]);
            var (chosen, rejected) = (s.narrow(0, 0, rows.Count), s.narrow(0, rows.Count, rows.Count));
            var diff = (chosen - rejected).detach();
            return (RewardLoss.BradleyTerry(chosen, rejected), diff.gt(Scalars.Of(0)).sum().item<long>(), diff.sum().item<float>());
        }
        var scores = rm.Scores(rows.Select(r => r.First).ToList());
        var labels = tensor(rows.Select(r => r.Label).ToArray()).to(rm.Device);
        var right = scores.detach().gt(Scalars.Of(0)).to_type(ScalarType.Float32).eq(labels).sum().item<long>();
        return (RewardLoss.Bce(scores, labels), right, 0);
    }

    static LoopEval Evaluate(RewardModel rm, IReadOnlyList<Encoded> val, bool pairs, int batchSize, int maxBatches)
    {
        using var _ = no_grad();
        double loss = 0, correct = 0, margin = 0, n = 0;
        for (int b = 0; b < maxBatches && b * batchSize < val.Count; b++)
        {
            using var scope = NewDisposeScope();
            var rows = val.Skip(b * batchSize).Take(batchSize).ToList();
            var (l, c, m) = Objective(rm, rows, pairs);
            loss += l.item<float>() * rows.Count; correct += c; margin += m; n += rows.Count;
        }
        var extra = new Dictionary<string, double> { ["accuracy"] = correct / n };
        if (pairs) extra["margin"] = margin / n;
        return new LoopEval(loss / n, extra);
    }
}
