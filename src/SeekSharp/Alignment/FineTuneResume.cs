using System.Text.Json;
using SeekSharp.Checkpoints;
using SeekSharp.Ledger;
using SeekSharp.Training;

namespace SeekSharp.Alignment;

// --resume for the fine-tuning stages (SFT, reward model): which checkpoint to continue, and the refusal to
// continue it under other settings, which would silently give a run that is neither the old one nor a new one.

/// <summary>Output-folder checks of a fine-tuning run that may resume.</summary>
public static class FineTuneResume
{
    /// <summary>A fresh run: <see cref="FineTuning.PrepareOutput"/>, and null. A resumed one: the latest checkpoint of
    /// <paramref name="outDir"/> (an error when there is none).</summary>
    public static string? Prepare(string modelDir, string outDir, bool resume)
    {
        if (!resume)
        {
            TrainingCheckpoint.RefuseExisting(outDir);
            // A run that died before its first checkpoint left only its metrics: a fresh start replaces them, as in pretraining.
            var metrics = Path.Combine(outDir, MetricsLog.FileName);
            if (File.Exists(metrics) && !ModelFiles.HasWeights(outDir)) File.Delete(metrics);
            FineTuning.PrepareOutput(modelDir, outDir);
            return null;
        }
        if (Path.GetFullPath(modelDir).TrimEnd('/') == Path.GetFullPath(outDir).TrimEnd('/'))
            throw new SeekSharpException($"{outDir}: --out must differ from --model (the base model would be overwritten).");
        return TrainingCheckpoint.LatestForResume(outDir);
    }

    /// <summary>Checks that the checkpoint was trained with <paramref name="tc"/> (the step count, device and checkpoint cadence may differ).</summary>
    public static TrainerState Check(string checkpoint, TrainConfig tc, TrainerState state, ITrainingObserver? observer)
    {
        string Key(TrainConfig c) => JsonSerializer.Serialize(c with { Steps = 0, Device = "", CheckpointEvery = 0, KeepCheckpoints = 1 }, TrainConfig.Json);
        if (Key(state.Train) != Key(tc))
            throw new SeekSharpException($"{checkpoint}: the checkpoint was trained with other settings (learning rate, batch, seed...); resume with the same options.");
        StepLoop.CheckResumable(Path.GetDirectoryName(Path.GetDirectoryName(checkpoint))!, checkpoint, state, tc);
        observer?.OnMessage(state.Step == tc.Steps
            ? $"finishing from {Path.GetFileName(checkpoint)} (step {state.Step}, the last): writing the final model."
            : $"resuming from {Path.GetFileName(checkpoint)} (step {state.Step}).");
        return state;
    }
}
