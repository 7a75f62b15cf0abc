namespace SeekSharp.Training;

/// <summary>One optimizer step's figures, as logged to metrics.jsonl.</summary>
public sealed record StepMetrics(
    int Step, int TotalSteps, double Loss, double AuxLoss, double LearningRate, double GradNorm,
    double StepSeconds, double TokensPerSecond, long TokensSeen, double ElapsedSeconds,
    double? ValLoss, IReadOnlyDictionary<int, double[]>? ExpertLoad);

/// <summary>How a training loop reports progress (the CLI draws a bar; tests collect losses).</summary>
public interface ITrainingObserver
{
    void OnStart(int firstStep, int totalSteps) { }
    void OnStep(StepMetrics m) { }
    void OnMessage(string message) { }
}
