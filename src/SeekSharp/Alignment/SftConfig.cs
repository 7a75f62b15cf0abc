using System.Text.Json;
using System.Text.Json.Serialization;
using SeekSharp.Training;

namespace SeekSharp.Alignment;

/// <summary>A supervised fine-tuning run. Immutable; saved as sft_config.json in the output folder.</summary>
public sealed record SftConfig
{
    /// <summary>Model folder to start from (config.json, model.safetensors, tokenizer files).</summary>
    [JsonPropertyName("model")] public string ModelDir { get; init; } = "";
    /// <summary>Chat JSONL ("messages" records and/or `seek data synth` records); unused when examples are passed in memory.</summary>
    [JsonPropertyName("data")] public string? DataPath { get; init; }
    /// <summary>Output model folder; must not already hold a model.</summary>
    [JsonPropertyName("out")] public string OutDir { get; init; } = "";
    /// <summary>Passes over the training records; when positive it sets train.steps.</summary>
    [JsonPropertyName("epochs")] public double Epochs { get; init; }
    /// <summary>Fraction of records held out for validation loss (at least one record when positive).</summary>
    [JsonPropertyName("val_fraction")] public double ValFraction { get; init; } = 0.05;
    /// <summary>Train LoRA adapters on a frozen base instead of all weights; null = full fine-tuning.</summary>
    [JsonPropertyName("lora")] public LoraConfig? Lora { get; init; }
    /// <summary>Logit distillation from a teacher's cached top-k (the loss becomes KdLoss); null = plain cross-entropy.</summary>
    [JsonPropertyName("distill")] public SeekSharp.Distillation.KdSettings? Distill { get; init; }
    /// <summary>Optimization settings (batch_size = conversations per micro-batch; seq_len caps conversation length, 0 = model context).</summary>
    [JsonPropertyName("train")] public TrainConfig Train { get; init; } = DefaultTrain;
    /// <summary>Hardware profile for the ledger (see HardwareProfile.Resolve); not saved.</summary>
    [JsonIgnore] public string? HardwareProfilePath { get; init; }
    /// <summary>Continue the run in OutDir from its latest checkpoint (same settings); not saved.</summary>
    [JsonIgnore] public bool Resume { get; init; }
    /// <summary>Cost already spent making this run's data (a distillation teacher's sampling), billed in this run's ledger
    /// so the student's bill is the whole bill; not saved (a resume takes it from the checkpoint's ledger).</summary>
    [JsonIgnore] public SeekSharp.Ledger.LedgerEntry? PriorCost { get; init; }

    /// <summary>Fine-tuning defaults: a lower peak than pretraining, short warmup, no weight decay (it would pull
    /// pretrained weights, or adapters, towards zero), evaluation every 25 steps, no intermediate checkpoints.</summary>
    public static TrainConfig DefaultTrain { get; } = new()
    {
        Steps = 200, BatchSize = 16, LearningRate = 1e-3, WarmupSteps = 10, WeightDecay = 0, EvalEvery = 25, CheckpointEvery = 0,
    };

    public SftConfig Validate()
    {
        if (string.IsNullOrWhiteSpace(ModelDir)) throw new SeekSharpException("sft config: 'model' (--model) is required.");
        if (string.IsNullOrWhiteSpace(OutDir)) throw new SeekSharpException("sft config: 'out' (--out) is required.");
        if (Epochs < 0) throw new SeekSharpException($"sft config: 'epochs' must be 0 (use steps) or positive, got {Epochs}.");
        if (ValFraction is < 0 or >= 1) throw new SeekSharpException($"sft config: 'val_fraction' must be in [0, 1), got {ValFraction}.");
        Lora?.Validate("sft config: lora");
        Distill?.Validate();
        if (Lora is not null && Train.WeightDecay != 0)
            throw new SeekSharpException($"sft config: 'weight_decay' must be 0 with LoRA (it would decay frozen embedding rows), got {Train.WeightDecay}.");
        Train.Validate("sft config: train");
        return this;
    }

    public static readonly JsonSerializerOptions Json = new() { WriteIndented = true };
}
