namespace SeekSharp.Training;

/// <summary>Linear warmup to the peak, then cosine decay to min_lr_ratio·peak at the last step.</summary>
public static class LrSchedule
{
    public static double At(int step, TrainConfig c)
    {
        if (c.WarmupSteps > 0 && step < c.WarmupSteps) return c.LearningRate * (step + 1) / c.WarmupSteps;
        int decaySteps = Math.Max(1, c.Steps - c.WarmupSteps);
        double progress = Math.Clamp((double)(step - c.WarmupSteps) / decaySteps, 0, 1);
        double floor = c.LearningRate * c.MinLrRatio;
        return floor + (c.LearningRate - floor) * 0.5 * (1 + Math.Cos(Math.PI * progress));
    }
}
