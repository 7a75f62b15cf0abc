using System.Text.Json;
using System.Text.Json.Serialization;
using SeekSharp.Training;

namespace SeekSharp.Reasoning;

/// <summary>How the GRPO objective aggregates per-token losses (see <see cref="GrpoLoss"/>).</summary>
public enum LossAggregation
{
    /// <summary>DeepSeekMath: advantages scaled by the group's std; each sequence's token mean, then the mean over sequences.</summary>
    Grpo,
    /// <summary>Dr. GRPO: no std scaling; summed token losses divided by (sequences × max completion tokens), a constant.</summary>
    DrGrpo,
}

/// <summary>A GRPO run. Immutable; saved as grpo_config.json in the output folder.</summary>
public sealed record GrpoConfig
{
    /// <summary>Model folder to start from; also the frozen KL reference.</summary>
    [JsonPropertyName("model")] public string ModelDir { get; init; } = "";
    /// <summary>Output model folder.</summary>
    [JsonPropertyName("out")] public string OutDir { get; init; } = "";
    /// <summary>Synthetic task id (arithmetic, countdown, finance) or a `seek data synth` JSONL file of prompts.</summary>
    [JsonPropertyName("task")] public string Task { get; init; } = "arithmetic";
    /// <summary>Completions sampled per prompt (G).</summary>
    [JsonPropertyName("group_size")] public int GroupSize { get; init; } = 8;
    /// <summary>Prompts per optimizer step.</summary>
    [JsonPropertyName("prompts_per_step")] public int PromptsPerStep { get; init; } = 8;
    /// <summary>Stop after this many minutes of RL (sampling + updates; periodic evaluation not counted); 0 = no limit.</summary>
    [JsonPropertyName("minutes")] public double Minutes { get; init; }
    /// <summary>Sampling temperature of the rollouts; the loss scores tokens under the same temperature.</summary>
    [JsonPropertyName("temperature")] public double Temperature { get; init; } = 1.0;
    /// <summary>Completion tokens at most (the &lt;|eos|&gt; included); also dr_grpo's constant normalizer.</summary>
    [JsonPropertyName("max_tokens")] public int MaxTokens { get; init; } = 160;
    /// <summary>Weight of the KL penalty to the reference (k3 estimator); 0 loads no reference model.</summary>
    [JsonPropertyName("beta")] public double Beta { get; init; } = 0.0;
    /// <summary>Lower clip of the importance ratio: 1 - epsilon.</summary>
    [JsonPropertyName("epsilon")] public double Epsilon { get; init; } = 0.2;
    /// <summary>Upper clip 1 + epsilon_high (DAPO clip-higher); null = epsilon.</summary>
    [JsonPropertyName("epsilon_high")] public double? EpsilonHigh { get; init; }
    /// <summary>Loss aggregation: grpo or dr_grpo.</summary>
    [JsonPropertyName("loss")] public LossAggregation Loss { get; init; } = LossAggregation.Grpo;
    /// <summary>Optimizer steps per batch of rollouts (μ); the importance ratio is 1 on the first.</summary>
    [JsonPropertyName("mu")] public int Mu { get; init; } = 1;
    /// <summary>Weight of the format reward (accuracy has weight 1). Default 0: accuracy is read only from a well-formed
    /// completion, so it already pays for the format; with the std-scaled advantages of grpo a group that differs only in
    /// format would otherwise get updates as large as one that differs in correctness (docs/decisions/0009). Raise it for
    /// R1-Zero-style runs from a model that has not learned the format.</summary>
    [JsonPropertyName("format_weight")] public double FormatWeight { get; init; } = 0;
    /// <summary>Reward model folder (`seek chat rm`) weighed into the reward; null = rule-based only.</summary>
    [JsonPropertyName("reward_model")] public string? RewardModelDir { get; init; }
    /// <summary>Weight of the reward model's score.</summary>
    [JsonPropertyName("reward_model_weight")] public double RewardModelWeight { get; init; } = 0.5;
    /// <summary>Completions decoded together at most (rows of one batch through the KV cache). A decoding step costs
    /// about the same for many rows as for a few on a CPU (docs/decisions/0009), so a step's prompts × group should fit
    /// one batch; more rows cost memory (a KV cache of rows × context).</summary>
    [JsonPropertyName("rollout_rows")] public int RolloutRows { get; init; } = 64;
    /// <summary>Sequences per forward/backward micro-batch (memory bound; the step's objective does not depend on it).</summary>
    [JsonPropertyName("micro_batch")] public int MicroBatch { get; init; } = 32;
    /// <summary>Evaluate held-out pass@1 every N steps (and at the start and end); 0 = never.</summary>
    [JsonPropertyName("eval_every")] public int EvalEvery { get; init; }
    /// <summary>Held-out problems per periodic evaluation.</summary>
    [JsonPropertyName("eval_count")] public int EvalCount { get; init; } = 100;
    /// <summary>Choose prompts by their buckets' recent pass rate and skip groups predicted all right or all wrong before
    /// rolling them out (Curriculum, decision 0024).</summary>
    [JsonPropertyName("curriculum")] public bool Curriculum { get; init; }
    /// <summary>Optimization: steps (the upper bound when minutes is set), learning rate, warmup, clipping, precision, seed.</summary>
    [JsonPropertyName("train")] public TrainConfig Train { get; init; } = DefaultTrain;
    /// <summary>Hardware profile for the ledger; not saved.</summary>
    [JsonIgnore] public string? HardwareProfilePath { get; init; }
    /// <summary>Continue the run in the output folder from its latest checkpoint (train.checkpoint_every sets how often one
    /// is saved); the settings must be the run's, except steps, minutes, the checkpoint cadence and the device. Not saved.</summary>
    [JsonIgnore] public bool Resume { get; init; }

    /// <summary>RL defaults: a constant learning rate after a short warmup (the number of steps is usually set by the
    /// clock), no weight decay, router biases frozen (the gradient alone moves the policy; the reference routes alike).</summary>
    public static TrainConfig DefaultTrain { get; } = new()
    {
        Steps = 200, BatchSize = 1, LearningRate = 2e-5, MinLrRatio = 1.0, WarmupSteps = 5, WeightDecay = 0, Beta2 = 0.999,
        EvalEvery = 0, CheckpointEvery = 0, BiasUpdateSpeed = 0,
    };

    public double UpperClip => EpsilonHigh ?? Epsilon;

    public GrpoConfig Validate()
    {
        void Need(bool ok, string field, string expected)
        {
            if (!ok) throw new SeekSharpException($"grpo config: '{field}' is invalid: expected {expected}.");
        }
        Need(!string.IsNullOrWhiteSpace(ModelDir), "model", "a model folder (--model)");
        Need(!string.IsNullOrWhiteSpace(OutDir), "out", "an output folder (--out)");
        Need(!string.IsNullOrWhiteSpace(Task), "task", "a task id or a JSONL file (--task)");
        Need(GroupSize >= 2, "group_size", "2 or more (advantages compare completions within a group)");
        Need(PromptsPerStep >= 1, "prompts_per_step", "1 or more");
        Need(Minutes >= 0 && double.IsFinite(Minutes), "minutes", "0 (no limit) or a positive number");
        Need(Temperature > 0 && Temperature <= 10, "temperature", "a number in (0, 10] (RL needs sampling)");
        Need(MaxTokens >= 1, "max_tokens", "1 or more");
        Need(Beta >= 0 && double.IsFinite(Beta), "beta", "0 or more");
        Need(Epsilon > 0 && Epsilon < 1, "epsilon", "a number in (0, 1)");
        Need(EpsilonHigh is null || EpsilonHigh > 0, "epsilon_high", "a positive number");
        Need(Mu >= 1, "mu", "1 or more");
        Need(FormatWeight >= 0 && double.IsFinite(FormatWeight), "format_weight", "0 or more");
        Need(double.IsFinite(RewardModelWeight), "reward_model_weight", "a finite number");
        Need(MicroBatch >= 1, "micro_batch", "1 or more");
        Need(RolloutRows >= 1, "rollout_rows", "1 or more");
        Need(EvalEvery >= 0 && EvalCount >= 1, "eval_every/eval_count", "eval_every >= 0 and eval_count >= 1");
        Train.Validate("grpo config: train");
        return this;
    }

    public static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter<LossAggregation>(JsonNamingPolicy.SnakeCaseLower) },
    };

    /// <summary>Parses "grpo" or "dr_grpo".</summary>
    public static LossAggregation ParseLoss(string s) => s switch
    {
        "grpo" => LossAggregation.Grpo,
        "dr_grpo" => LossAggregation.DrGrpo,
        _ => throw new SeekSharpException($"--loss: expected grpo or dr_grpo, got '{s}'."),
    };
}
