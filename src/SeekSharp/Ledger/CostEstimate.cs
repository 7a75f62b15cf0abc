// Design: `seek cost estimate` projects what training a model of a given size on a given number of tokens would cost
// on given hardware, from first principles: FLOPs (6 x active parameters per token, plus attention when the
// architecture is known: Modeling/ModelCost), divided by what the hardware really delivers (its dense peak times an
// MFU, given or measured in one of our runs), priced by the hardware profile. The same arithmetic checks itself
// against the one large run whose figures are public: DeepSeek-V3's technical report (arXiv 2412.19437, Table 1).

using SeekSharp.Modeling;

namespace SeekSharp.Ledger;

/// <summary>What a training run of <see cref="Tokens"/> tokens would cost on <see cref="Hardware"/>.</summary>
public sealed record CostProjection(
    string Model, long TotalParams, long ActiveParams, double Tokens, double FlopsPerToken, bool AttentionCounted,
    double Flops, string Precision, double PeakFlops, double Mfu, string MfuSource, HardwareProfile Hardware,
    double DeviceHours, double Usd, double EnergyKwh, double Co2Grams)
{
    /// <summary>Device-hours (GPU-hours, or machine-hours for a CPU profile) per trillion tokens.</summary>
    public double DeviceHoursPerTrillionTokens => DeviceHours / (Tokens / 1e12);
}

/// <summary>Training cost projections and the MFU they divide by.</summary>
public static class CostEstimate
{
    /// <summary>
    /// Projects a run: FLOPs = tokens x <paramref name="flopsPerToken"/>; device-hours = FLOPs / (peak x MFU) / 3600;
    /// dollars = hours x usd_per_hour + kWh x usd_per_kwh; kWh = hours x full-load watts x PUE / 1000 (full load: a
    /// training run keeps its devices busy, and the datasheet board power is what a facility provisions for).
    /// </summary>
    public static CostProjection Project(string model, long totalParams, long activeParams, double flopsPerToken, bool attention,
        double tokens, HardwareProfile hw, string precision, double mfu, string mfuSource, string source = "--hardware")
    {
        if (!(tokens > 0) || !double.IsFinite(tokens)) throw new SeekSharpException($"--tokens: expected a positive number of tokens, got {tokens}.");
        if (!(mfu > 0 && mfu <= 1)) throw new SeekSharpException($"--mfu: expected a fraction in (0, 1], got {mfu}.");
        var peak = hw.PeakFlops(precision, $"hardware profile '{hw.Name}' ({source})");
        var flops = tokens * flopsPerToken;
        var hours = flops / (peak * mfu) / 3600.0;
        var kwh = hours * hw.FullLoadWatts * hw.Pue / 1000.0;
        return new CostProjection(model, totalParams, activeParams, tokens, flopsPerToken, attention, flops, precision, peak, mfu, mfuSource,
            hw, hours, hours * hw.UsdPerHour + kwh * hw.UsdPerKwh, kwh, kwh * hw.GramsCo2PerKwh);
    }

    /// <summary>The projection for a preset or config: FLOPs per token from <see cref="ModelCost"/> (attention over a
    /// context of <paramref name="seqLen"/> included).</summary>
    public static CostProjection Project(string name, ModelConfig cfg, int seqLen, double tokens, HardwareProfile hw, string precision,
        double mfu, string mfuSource)
    {
        var cost = ModelCost.Of(cfg, seqLen);
        return Project(name, cost.TotalParams, cost.ActiveParams, cost.TrainingFlopsPerToken, true, tokens, hw, precision, mfu, mfuSource);
    }

    /// <summary>The MFU a finished run achieved: its model FLOPs per wall second over the dense peak of the hardware its
    /// ledger was priced with, in <paramref name="precision"/>. A profile without that peak is an error naming the field.</summary>
    public static double MeasuredMfu(LedgerEntry run, string precision, string source)
    {
        if (!(run.AchievedFlopsPerSecond > 0)) throw new SeekSharpException($"{source}: field 'achieved_flops_per_second': expected a run that counted its model FLOPs (> 0)");
        return run.AchievedFlopsPerSecond / run.Hardware.PeakFlops(precision, $"{source}: field 'hardware'");
    }

    /// <summary>The MFU implied by a run that needed <paramref name="deviceHours"/> for <paramref name="flops"/>.</summary>
    public static double ImpliedMfu(double flops, double deviceHours, double peakFlops) => flops / (deviceHours * 3600.0 * peakFlops);
}
