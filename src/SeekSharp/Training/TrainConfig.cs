using System.Text.Json;
using System.Text.Json.Serialization;

namespace SeekSharp.Training;

/// <summary>Optimization settings of a pretraining run. Immutable; saved in every checkpoint.</summary>
public sealed record TrainConfig
{
    /// <summary>Optimizer steps to run in total.</summary>
    [JsonPropertyName("steps")] public int Steps { get; init; } = 200;
    /// <summary>Sequences per micro-batch.</summary>
    [JsonPropertyName("batch_size")] public int BatchSize { get; init; } = 16;
    /// <summary>Tokens per sequence; 0 means the model's context length.</summary>
    [JsonPropertyName("seq_len")] public int SeqLen { get; init; }
    /// <summary>Micro-batches whose gradients are summed per optimizer step.</summary>
    [JsonPropertyName("grad_accum")] public int GradAccum { get; init; } = 1;
    /// <summary>Peak learning rate (AdamW).</summary>
    [JsonPropertyName("learning_rate")] public double LearningRate { get; init; } = 3e-3;
    /// <summary>Final learning rate as a fraction of the peak (cosine decay floor).</summary>
    [JsonPropertyName("min_lr_ratio")] public double MinLrRatio { get; init; } = 0.1;
    /// <summary>Linear warmup steps.</summary>
    [JsonPropertyName("warmup_steps")] public int WarmupSteps { get; init; } = 20;
    /// <summary>Decoupled weight decay, applied to matrices only (not norms or router biases).</summary>
    [JsonPropertyName("weight_decay")] public double WeightDecay { get; init; } = 0.1;
    /// <summary>AdamW beta1.</summary>
    [JsonPropertyName("beta1")] public double Beta1 { get; init; } = 0.9;
    /// <summary>AdamW beta2.</summary>
    [JsonPropertyName("beta2")] public double Beta2 { get; init; } = 0.95;
    /// <summary>AdamW epsilon.</summary>
    [JsonPropertyName("eps")] public double Eps { get; init; } = 1e-8;
    /// <summary>Clip the global gradient norm to this value; 0 disables clipping.</summary>
    [JsonPropertyName("grad_clip")] public double GradClip { get; init; } = 1.0;
    /// <summary>Run validation every N steps (and at the end); 0 only at the end.</summary>
    [JsonPropertyName("eval_every")] public int EvalEvery { get; init; } = 50;
    /// <summary>Validation batches per evaluation.</summary>
    [JsonPropertyName("eval_batches")] public int EvalBatches { get; init; } = 4;
    /// <summary>Write a resumable checkpoint every N steps (and at the end); 0 only at the end.</summary>
    [JsonPropertyName("checkpoint_every")] public int CheckpointEvery { get; init; } = 100;
    /// <summary>Resumable checkpoints kept on disk (oldest deleted first).</summary>
    [JsonPropertyName("keep_checkpoints")] public int KeepCheckpoints { get; init; } = 2;
    /// <summary>Seed for initialization and batch sampling.</summary>
    [JsonPropertyName("seed")] public int Seed { get; init; } = 1337;
    /// <summary>"bf16" (matmuls in bfloat16, fp32 masters), "fp32", or "fp8" (bf16 plus DeepSeek-V3's E4M3 tile-scaled operands in every block projection, TrainingPrecision).</summary>
    [JsonPropertyName("precision")] public string Precision { get; init; } = "bf16";
    /// <summary>Router bias step γ of auxiliary-loss-free balancing (the paper uses 0.001 over long runs).</summary>
    [JsonPropertyName("bias_update_speed")] public double BiasUpdateSpeed { get; init; } = 0.001;
    /// <summary>λ of the multi-token-prediction loss (models with num_nextn_predict_layers > 0): a number, or a schedule
    /// "w1@f1,w2@f2,...,wn": w1 for the first fraction f1 of the steps, w2 until f2, ..., wn after. The default is
    /// DeepSeek-V3's 0.3 for the first 10T of 14.8T tokens, then 0.1. Decision 0021.</summary>
    [JsonPropertyName("mtp_weight")] public string MtpWeight { get; init; } = "0.3@0.7,0.1";
    /// <summary>Online batch selection (RHO-LOSS, decision 0024): "none", "loss" (train on the candidates the model finds
    /// hardest) or "excess-loss" (its loss minus a reference model's: learnable, target-like, not yet learnt).</summary>
    [JsonPropertyName("select")] public string Select { get; init; } = "none";
    /// <summary>With selection, each micro-batch is the top 1/R of R·batch_size candidate windows scored without gradients.</summary>
    [JsonPropertyName("select_ratio")] public int SelectRatio { get; init; } = 4;
    /// <summary>Torch device: "cpu" (or "cuda" with a CUDA build of TorchSharp).</summary>
    [JsonPropertyName("device")] public string Device { get; init; } = "cpu";
    /// <summary>Model folders whose weights pass this many bytes are written as shards with an index (decision 0027).</summary>
    [JsonPropertyName("max_shard_size")] public long MaxShardBytes { get; init; } = Checkpoints.ModelFiles.DefaultMaxShardBytes;

    public TrainConfig Validate(string source = "train config")
    {
        void Need(bool ok, string field, string expected)
        {
            if (!ok) throw new SeekSharpException($"{source}: '{field}' is invalid: expected {expected}.");
        }
        Need(Steps > 0, "steps", "a positive integer");
        Need(BatchSize > 0, "batch_size", "a positive integer");
        Need(SeqLen >= 0, "seq_len", "0 (model context) or a positive integer");
        Need(GradAccum > 0, "grad_accum", "a positive integer");
        Need(LearningRate > 0 && LearningRate < 1, "learning_rate", "a number in (0, 1)");
        Need(MinLrRatio is >= 0 and <= 1, "min_lr_ratio", "a number in [0, 1]");
        Need(WarmupSteps >= 0, "warmup_steps", "0 or more");
        Need(WeightDecay >= 0, "weight_decay", "0 or more");
        Need(Beta1 is >= 0 and < 1 && Beta2 is >= 0 and < 1, "beta1/beta2", "numbers in [0, 1)");
        Need(GradClip >= 0, "grad_clip", "0 or more");
        Need(EvalEvery >= 0 && EvalBatches > 0, "eval_every/eval_batches", "eval_every >= 0 and eval_batches > 0");
        Need(CheckpointEvery >= 0 && KeepCheckpoints > 0, "checkpoint_every/keep_checkpoints", "checkpoint_every >= 0 and keep_checkpoints > 0");
        Need(Precision is "bf16" or "fp32" or "fp8", "precision", "\"bf16\", \"fp32\" or \"fp8\"");
        Need(BiasUpdateSpeed >= 0, "bias_update_speed", "0 or more");
        Need(Select is "none" or "loss" or "excess-loss", "select", "\"none\", \"loss\" or \"excess-loss\"");
        Need(SelectRatio is >= 1 and <= 64, "select_ratio", "an integer from 1 to 64");
        Need(ParseMtpWeight(MtpWeight) is not null, "mtp_weight", "a number of 0 or more, or a schedule like 0.3@0.7,0.1 (weights >= 0, fractions rising in (0, 1))");
        return this;
    }

    /// <summary>λ at 0-based step <paramref name="step"/> of <see cref="Steps"/>.</summary>
    public double MtpWeightAt(int step)
    {
        var schedule = ParseMtpWeight(MtpWeight) ?? throw new SeekSharpException($"mtp_weight '{MtpWeight}' is invalid.");
        double at = (double)step / Steps;
        foreach (var (w, until) in schedule) if (at < until) return w;
        return schedule[^1].Weight;
    }

    /// <summary>(weight, until-fraction) pairs, the last until 1; null when malformed.</summary>
    public static (double Weight, double Until)[]? ParseMtpWeight(string text)
    {
        var inv = System.Globalization.CultureInfo.InvariantCulture;
        var parts = (text ?? "").Split(',');
        var list = new List<(double, double)>();
        double last = 0;
        for (int i = 0; i < parts.Length; i++)
        {
            var p = parts[i].Split('@');
            bool final = i == parts.Length - 1;
            if (p.Length != (final ? 1 : 2)) return null;
            if (!double.TryParse(p[0], System.Globalization.NumberStyles.Float, inv, out var w) || !double.IsFinite(w) || w < 0) return null;
            double until = 1;
            if (!final && (!double.TryParse(p[1], System.Globalization.NumberStyles.Float, inv, out until) || !(until > last && until < 1))) return null;
            list.Add((w, until));
            last = until;
        }
        return [.. list];
    }

    public static readonly JsonSerializerOptions Json = new() { WriteIndented = true };
}
