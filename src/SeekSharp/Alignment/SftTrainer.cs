using System.Text.Json;
using SeekSharp.Checkpoints;
using SeekSharp.Distillation;
using SeekSharp.IO;
using SeekSharp.Ledger;
using SeekSharp.Modeling;
using SeekSharp.Reports;
using SeekSharp.Tokenization;
using SeekSharp.Training;
using SeekSharp.Native;
using TorchSharp;
using static TorchSharp.torch;

namespace SeekSharp.Alignment;

// Supervised fine-tuning of a pretrained model folder on chat data, with the loss on assistant tokens only
// (ChatTemplate's mask: assistant content and the <|eos|> closing it). The objective of a step is the mean
// over every assistant token of its grad_accum micro-batches (each micro-batch's summed loss is divided by
// the step's total), so long and short answers weigh by their tokens, as in one big batch. Micro-batches
// are right-padded (ChatBatch). With LoRA the base is frozen, router biases included, and only adapters
// train (and the special tokens' embedding rows, see Lora); at the end they are saved in OUT/adapter/ and
// merged, so OUT is always a plain model folder. LoRA runs without weight decay: AdamW would decay every
// row of the embedding matrix, not just the trained ones.
// The architecture comes from the base model's config.json unchanged; the tokenizer files are copied.
// Checkpoints (checkpoint_every > 0) are model folders too: with LoRA, model.safetensors holds the merged
// model and adapter/ the adapters, and a resume rebuilds the frozen base from --model, attaches the
// checkpoint's adapters (and trained token rows) and restores the optimizer, so the run goes on as if
// never stopped. Batches are a function of the step (EpochSampler), so they need no saving.
// With `distill` (seek distill --mode logits) the loss of the same positions is KdLoss against a teacher's top-k
// logits, read from a cache built once before the first step (Distillation/TeacherCache) and billed to this run.

/// <summary>What a finished SFT run reports.</summary>
public sealed record SftResult(string OutDir, int Steps, int TrainExamples, int ValExamples, int SkippedTooLong,
    double FinalLoss, double? FinalValLoss, double TokensPerSecond, LedgerEntry Ledger, string? AdapterDir);

public static class SftTrainer
{
    public const string ConfigFile = "sft_config.json";
    public const string AdapterFolder = "adapter";

    /// <summary>Fine-tunes on the records of <see cref="SftConfig.DataPath"/>.</summary>
    public static SftResult Run(SftConfig config, ITrainingObserver? observer = null)
    {
        if (string.IsNullOrWhiteSpace(config.DataPath)) throw new SeekSharpException("sft config: 'data' (--data) is required.");
        return Run(config, ChatData.Read(config.DataPath), observer);
    }

    /// <summary>Fine-tunes on conversations held in memory (e.g. <see cref="ChatData.FromProblems"/>).</summary>
    public static SftResult Run(SftConfig config, IReadOnlyList<ChatExample> examples, ITrainingObserver? observer = null)
    {
        config.Validate();
        var resumeFrom = FineTuneResume.Prepare(config.ModelDir, config.OutDir, config.Resume);
        var tok = BpeTokenizer.Load(config.ModelDir);
        var device = new Device(config.Train.Device);
        using var model = ModelFiles.Load(config.ModelDir, device);
        // A quantized base trains only as QLoRA: the adapters on top of the stored bytes.
        if (config.Lora is null) model.RefuseQuantizedTraining("full fine-tuning (chat sft without --lora)", config.ModelDir);
        if (tok.VocabSize != model.Config.VocabSize)
            throw new SeekSharpException($"{config.ModelDir}: tokenizer has {tok.VocabSize} tokens but config.json says vocab_size {model.Config.VocabSize}.");

        int maxTokens = config.Train.SeqLen > 0 ? Math.Min(config.Train.SeqLen, model.Config.MaxPositionEmbeddings) : model.Config.MaxPositionEmbeddings;
        var (encoded, tooLong) = ChatData.Encode(tok, examples, maxTokens);
        if (tooLong > 0) observer?.OnMessage($"{tooLong} of {examples.Count} conversations are longer than {maxTokens} tokens and were left out.");
        if (encoded.Count == 0) throw new SeekSharpException($"{config.DataPath ?? "data"}: no conversation fits in {maxTokens} tokens.");
        var (train, val) = FineTuning.Split(encoded, config.ValFraction, config.Train.Seed);

        var tc = config.Train;
        if (config.Epochs > 0) tc = tc with { Steps = Math.Max(1, (int)Math.Ceiling(config.Epochs * train.Count / (tc.BatchSize * tc.GradAccum))) };
        // A frozen base means frozen router biases too: only the adapters may change.
        if (config.Lora is not null) tc = tc with { BiasUpdateSpeed = 0 };
        var saved = config with { Train = tc };

        var attachment = config.Lora is { } lora
            ? Lora.Attach(model, lora, tc.Seed, lora.TrainSpecialTokens ? tok.Specials.Values.ToList() : null)
            : null;
        if (resumeFrom is not null && attachment is not null)
        {
            // The checkpoint's adapters replace the fresh ones (and restore the trained token rows): train those.
            Lora.Load(Path.Combine(resumeFrom, AdapterFolder), model);
            attachment = attachment with { Parameters = [.. Lora.Parameters(model), .. attachment.Parameters.Where(n => !n.Name.Contains(".lora_"))] };
        }
        TrainingPrecision.Apply(model, tc.Precision);
        model.train();
        using var optimizer = new AdamW(attachment?.Parameters ?? model.named_parameters().ToList(), tc);
        var start = new TrainerState { Train = tc, Ledger = config.PriorCost };
        if (resumeFrom is not null)
            start = FineTuneResume.Check(resumeFrom, tc, attachment is null
                ? TrainingCheckpoint.Restore(resumeFrom, model, optimizer)
                : TrainingCheckpoint.RestoreOptimizer(resumeFrom, optimizer), observer);
        var stepper = new TrainStep(model, optimizer, tc, 0, device) { OnGradients = attachment is null ? null : attachment.MaskGradients };
        var sampler = new EpochSampler(train.Count, tc.Seed);
        int batch = Math.Min(tc.BatchSize, train.Count);

        AtomicFile.WriteAllText(Path.Combine(config.OutDir, ConfigFile), JsonSerializer.Serialize(saved, SftConfig.Json));
        using var metrics = StepLoop.OpenMetrics(config.OutDir, start.Step);
        using var ledger = RunLedger.Continue("sft", HardwareProfile.Resolve(config.HardwareProfilePath), start.Ledger, config.OutDir, resumeFrom);
        ledger.RecordData(ChatData.LedgerOf(config.DataPath ?? "(conversations in memory)", examples, encoded));
        var cost = ModelCost.Of(model.Config, maxTokens);
        // Logit distillation: the teacher's top-k over these conversations, built once (billed here) or reopened.
        var teacher = config.Distill is { } kd
            ? TeacherCache.Prepare(kd, tok, encoded, maxTokens, tc.Precision, device, ledger, observer)
            : ((TopKCache Cache, Dictionary<ChatTokens, long> Offsets)?)null;
        using var teacherCache = teacher?.Cache;
        var checkpoints = tc.CheckpointEvery == 0 ? null : new LoopCheckpoints(start, s =>
        {
            ledger.RecordStorage(TrainingCheckpoint.Save(config.OutDir, model, optimizer, s, tokenizerDir: config.ModelDir, extra: config.Lora is not { } l ? null : dir =>
            {
                Lora.Save(Path.Combine(dir, AdapterFolder), model, l, config.ModelDir, attachment!.TokenRows);
                SaveMerged(dir, model);
            }), StorageKind.Checkpoint);
            TrainingCheckpoint.Prune(config.OutDir, tc.KeepCheckpoints);
        });

        var loop = StepLoop.Run(tc, metrics, ledger, cost.TrainingFlopsPerToken, observer, (step, lr) =>
        {
            var microRows = Enumerable.Range(0, tc.GradAccum)
                .Select(m => sampler.Batch((long)step * tc.GradAccum + m, batch).Select(i => train[i]).ToList()).ToList();
            var micro = microRows.Select(rows => ChatBatch.Collate(rows, tok.PadId, maxTokens)).ToList();
            double lossTokens = Math.Max(1, micro.Sum(b => b.LossTokens));
            using Scalar perStep = lossTokens.ToScalar();   // alive through every micro-batch (Native/Scalars.cs)
            var outcome = stepper.Run(lr, m =>
            {
                var (logits, aux) = model.Forward(tensor(micro[m].Inputs, [micro[m].Rows, micro[m].Length]).to(device));
                var targets = tensor(micro[m].Targets).to(device);
                Tensor loss;
                if (teacher is null) loss = LmLoss.Sum(logits, targets) / perStep;
                else
                {
                    // Logit distillation: the rows' loss positions in the cache, in the batch's row-major order (KdLoss).
                    var positions = microRows[m].SelectMany(r => Enumerable.Range(0, TeacherCache.LossTokens(r)).Select(j => teacher.Value.Offsets[r] + j)).ToList();
                    var (tv, ti) = teacher.Value.Cache.Rows(positions);
                    loss = KdLoss.Sum(logits, targets, tv.to(device), ti.to(device), config.Distill!.Tau, config.Distill.Alpha) / perStep;
                }
                return new MicroLoss(loss, config.Lora is null && aux is not null ? aux / Scalars.Of(tc.GradAccum) : null);
            });
            return new LoopStep(outcome, micro.Sum(b => (long)b.Tokens),
                new Dictionary<string, double> { ["assistant_tokens"] = lossTokens });
        }, val.Count > 0 ? () => new LoopEval(Evaluate(model, val, Math.Min(tc.BatchSize, val.Count), tc.EvalBatches, tok.PadId, maxTokens, device)) : null,
        checkpoints);

        string? adapterDir = null;
        if (config.Lora is { } l)
        {
            adapterDir = Path.Combine(config.OutDir, AdapterFolder);
            Lora.Save(adapterDir, model, l, config.ModelDir, attachment!.TokenRows);
            Lora.Merge(model);
        }
        ModelFiles.Save(config.OutDir, model, tokenizerFrom: config.ModelDir);
        ledger.RecordModelFolder(config.OutDir);
        var entry = ledger.Finish();
        entry.Write(Path.Combine(config.OutDir, "ledger.json"));
        metrics.Dispose();
        RunReport.Write(config.OutDir, config.Lora is null ? "Supervised fine-tuning" : $"Supervised fine-tuning (LoRA r={config.Lora.Rank})");
        return new SftResult(config.OutDir, tc.Steps, train.Count, val.Count, tooLong, loop.FinalLoss, loop.FinalEval?.Loss,
            loop.TokensPerSecond, entry, adapterDir);
    }

    /// <summary>Writes the model with every adapter folded in (W + ΔW, as <see cref="Lora.Merge"/> computes it) as
    /// model.safetensors, leaving the live model's adapters attached.</summary>
    static void SaveMerged(string dir, Transformer model)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var (tensors, dtypes) = SeekSharp.Compression.QuantizedFolder.Tensors(model);
        var merged = new List<SeekSharp.Compression.QuantizedWeight>();
        foreach (var (name, lin) in Lora.Targets(model))
        {
            if (lin.Adapter is not { } a) continue;
            if (lin.Quantized is null) { tensors[name + ".weight"] = lin.weight + a.DeltaWeight(); continue; }
            var q = lin.MergedQuantized(); // a quantized base: re-quantized in its format, as Lora.Merge does
            merged.Add(q);
            tensors[name + ".weight"] = q.Data;
            if (q.ScaleInv is not null) tensors[name + ".weight" + SeekSharp.Compression.QuantizedFolder.ScaleSuffix] = q.ScaleInv;
        }
        try
        {
            Safetensors.Save(Path.Combine(dir, ModelFiles.WeightsFile), tensors,
                new Dictionary<string, string> { ["format"] = "pt", ["producer"] = "SeekSharp" }, dtypes);
        }
        finally { foreach (var q in merged) q.Dispose(); }
    }

    /// <summary>Mean cross-entropy per assistant token over the first <paramref name="maxBatches"/> batches of <paramref name="val"/>.</summary>
    public static double Evaluate(Transformer model, IReadOnlyList<ChatTokens> val, int batchSize, int maxBatches, int padId, int maxLength, Device device)
    {
        using var _ = no_grad();
        double sum = 0, count = 0;
        for (int b = 0; b < maxBatches && b * batchSize < val.Count; b++)
        {
            using var scope = NewDisposeScope();
            var batch = ChatBatch.Collate(val.Skip(b * batchSize).Take(batchSize).ToList(), padId, maxLength);
            var (logits, _) = model.Forward(tensor(batch.Inputs, [batch.Rows, batch.Length]).to(device));
            sum += LmLoss.Sum(logits, tensor(batch.Targets).to(device)).item<float>();
            count += batch.LossTokens;
        }
        return count == 0 ? double.NaN : sum / count;
    }
}
