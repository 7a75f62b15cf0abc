namespace SeekSharp.Training;

/// <summary>One optimizer step's figures, as logged to metrics.jsonl.</summary>
public sealed record StepMetrics(
    int Step, int TotalSteps, double Loss, double AuxLoss, double LearningRate, double GradNorm,
    double StepSeconds, double TokensPerSecond, long TokensSeen, double ElapsedSeconds,
    double? ValLoss, IReadOnlyDictionary<int, double[]>? ExpertLoad)
{
    /// <summary>What a progress line shows instead of the loss, for loops whose loss says little (RL: reward, accuracy).</summary>
    public string? Summary { get; init; }

    /// <summary>The metrics.jsonl record (snake_case keys; expert load rounded).</summary>
    public Dictionary<string, object?> ToRecord()
    {
        var r = new Dictionary<string, object?>
        {
            ["step"] = Step, ["loss"] = Loss, ["lr"] = LearningRate, ["grad_norm"] = GradNorm,
            ["step_seconds"] = StepSeconds, ["tokens_per_second"] = TokensPerSecond, ["tokens"] = TokensSeen,
            ["elapsed_seconds"] = ElapsedSeconds,
        };
        if (AuxLoss != 0) r["aux_loss"] = AuxLoss;
        if (ValLoss is { } v) r["val_loss"] = v;
        if (ExpertLoad is { } load)
        {
            r["expert_load"] = load.ToDictionary(kv => kv.Key.ToString(), kv => kv.Value.Select(x => Math.Round(x, 4)).ToArray());
            r["expert_imbalance"] = load.ToDictionary(kv => kv.Key.ToString(), kv => Math.Round(kv.Value.Max() * kv.Value.Length, 3));
        }
        return r;
    }
}

/// <summary>How a training loop reports progress (the CLI draws a bar; tests collect losses).</summary>
public interface ITrainingObserver
{
    void OnStart(int firstStep, int totalSteps) { }
    void OnStep(StepMetrics m) { }
    void OnMessage(string message) { }
}
