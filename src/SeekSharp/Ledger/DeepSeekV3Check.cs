// Design: the one public large run our cost arithmetic can be held against. DeepSeek-V3's technical report (arXiv
// 2412.19437) gives its size, tokens, GPU-hours and rental price; `seek cost estimate --deepseek-v3` runs the same
// projection as any other estimate on those inputs and prints where it lands, and what the popular claims built on
// those figures do and do not follow from them. The architecture comes from the published config.json, so our own
// parameter counting (ModelCost) is checked too.

using SeekSharp.Modeling;

namespace SeekSharp.Ledger;

/// <summary>One published figure beside what the projection gives for it.</summary>
public sealed record ReportedFigure(string Figure, double Reported, double Estimated, string Unit, string Note)
{
    /// <summary>Estimate over report.</summary>
    public double Ratio => Estimated / Reported;
}

/// <summary>The projection for DeepSeek-V3's pretraining against its technical report.</summary>
public static class DeepSeekV3Check
{
    // Table 1 of the report (H800 GPU-hours) and the text around it.
    public const double PretrainGpuHours = 2_664e3, ContextExtensionGpuHours = 119e3, PostTrainingGpuHours = 5e3, TotalGpuHours = 2_788e3;
    public const double TotalUsd = 5.576e6, UsdPerGpuHour = 2.0, GpuHoursPerTrillionTokens = 180e3;
    public const double Tokens = 14.8e12, TotalParams = 671e9, ActiveParams = 37e9;

    /// <summary>DeepSeek-V3's main model as its config.json describes it (the multi-token-prediction module, 14B more,
    /// is not part of the 671B), at the 4K context it was pretrained with.</summary>
    public static ModelConfig Config { get; } = new()
    {
        VocabSize = 129_280, HiddenSize = 7168, IntermediateSize = 18_432, MoeIntermediateSize = 2048, NumHiddenLayers = 61,
        NumAttentionHeads = 128, NumKeyValueHeads = 128, NRoutedExperts = 256, NSharedExperts = 1, NumExpertsPerTok = 8,
        FirstKDenseReplace = 3, AttentionType = "mla", QLoraRank = 1536, KvLoraRank = 512, QkNopeHeadDim = 128,
        QkRopeHeadDim = 64, VHeadDim = 128, MaxPositionEmbeddings = 4096, TieWordEmbeddings = false, NGroup = 8, TopkGroup = 4,
        RoutedScalingFactor = 2.5, Preset = null,
    };

    /// <summary>The MFU (bf16 dense peak of the profile) that the report's pretraining GPU-hours imply for 6 x 37B FLOPs a token.</summary>
    public static double ImpliedMfu(HardwareProfile h800) =>
        CostEstimate.ImpliedMfu(6 * ActiveParams * Tokens, PretrainGpuHours, h800.PeakFlops("bf16", $"hardware profile '{h800.Name}'"));

    /// <summary>The projection from 37B active parameters, 14.8T tokens and <paramref name="mfu"/>, and the figures it is
    /// held against: each within 5 % is what the suite checks (the totals are pretraining only: 4.4 % short).</summary>
    public static (CostProjection Projection, IReadOnlyList<ReportedFigure> Figures) Run(HardwareProfile h800, double mfu, string mfuSource)
    {
        var p = CostEstimate.Project("DeepSeek-V3 (37B active of 671B)", (long)TotalParams, (long)ActiveParams, 6 * ActiveParams, false,
            Tokens, h800, "bf16", mfu, mfuSource);
        var rental = p.DeviceHours * UsdPerGpuHour;
        var figures = new List<ReportedFigure>
        {
            new("pretraining GPU-hours", PretrainGpuHours, p.DeviceHours, "H800-hours", "14.8T tokens"),
            new("GPU-hours per trillion tokens", GpuHoursPerTrillionTokens, p.DeviceHoursPerTrillionTokens, "H800-hours", ""),
            new("all GPU-hours", TotalGpuHours, p.DeviceHours, "H800-hours", "pretraining only: context extension (119K) and post-training (5K) not modeled"),
            new("total cost", TotalUsd, rental, "USD", $"at the report's ${UsdPerGpuHour:F2}/GPU-hour; pretraining only"),
        };
        var cost = ModelCost.Of(Config, Config.MaxPositionEmbeddings);
        figures.Add(new("total parameters (config.json, by ModelCost)", TotalParams, cost.TotalParams, "parameters", "main model, without the MTP module"));
        figures.Add(new("active parameters (config.json, by ModelCost)", ActiveParams, cost.ActiveParams, "parameters", "per token"));
        return (p, figures);
    }

    /// <summary>What the claims people build on the report's figures imply, and whether first principles confirm them.</summary>
    public static IReadOnlyList<string> Claims(CostProjection p)
    {
        var withAttention = ModelCost.Of(Config, Config.MaxPositionEmbeddings).TrainingFlopsPerToken;
        return
        [
            $"\"$5.6M to train\": confirmed as arithmetic, not as a total. 37B active x 14.8T tokens x 6 = {6 * ActiveParams * Tokens:E2} FLOPs; " +
            $"at {p.Mfu:P1} of the H800's dense bf16 peak ({p.Mfu * p.PeakFlops / 1.9789e15:P1} of its FP8 peak) that is {p.DeviceHours / 1e3:N0}K GPU-hours, " +
            $"x $2 = ${p.DeviceHours * 2 / 1e6:F2}M for pretraining, ${TotalUsd / 1e6:F3}M with the report's context extension and post-training. " +
            "It is the rental price of the final run's GPU time: the report excludes prior research, ablations and data, and " +
            "it leaves out staff, the cluster's purchase and power beyond the rental.",
            $"The MFU is what the report implies, not a measurement: counting attention at 4K context (ModelCost on the published config: " +
            $"{withAttention / (6 * ActiveParams):F2}x the 6N FLOPs) the same hours mean {p.Mfu * withAttention / (6 * ActiveParams):P1} MFU. " +
            "Both are plausible for FP8 training on 2048 GPUs; neither can be checked from outside.",
            "\"3-5% of OpenAI's cost\": cannot be confirmed. OpenAI has published no parameter count, token count, GPU-hours or price for a " +
            "comparable model, and the claim compares DeepSeek's final-run rental with estimates of another lab's total spend.",
            $"\"One tenth of the energy\": cannot be confirmed. Energy follows GPU-hours x power: {p.EnergyKwh / 1e6:F2} GWh " +
            $"({p.Co2Grams / 1e6:N0} t CO2 at {p.Hardware.GramsCo2PerKwh:N0} g/kWh, PUE {p.Hardware.Pue}) for the pretraining here, " +
            $"{p.EnergyKwh / p.DeviceHours * TotalGpuHours / 1e6:F2} GWh for the report's 2,788K hours; the other side's energy is not published, " +
            "so the ratio holds only if it used ~10x the GPU-hours on similar hardware.",
        ];
    }
}
