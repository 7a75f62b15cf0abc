using SeekSharp.Cli.Commands;
using SeekSharp.Ledger;
using SeekSharp.Modeling;
using SeekSharp.Tests.Cli;

namespace SeekSharp.Tests.Ledger;

[Collection("Console")] // CliTests.Run redirects Console.Out
public class CostEstimateTests
{
    [Fact]
    public void DeepSeekV3sPublishedFiguresAreReproducedWithinFivePercent()
    {
        var h800 = HardwareProfile.Builtin("h800")!;
        var mfu = DeepSeekV3Check.ImpliedMfu(h800);
        // 6 x 37e9 x 14.8e12 FLOPs in 2,664K hours of a 989.4 TFLOP/s peak: 34.6 %.
        Assert.InRange(mfu, 0.345, 0.347);
        var (p, figures) = DeepSeekV3Check.Run(h800, mfu, "implied");
        Assert.Equal(6, figures.Count);
        foreach (var f in figures) Assert.True(Math.Abs(f.Ratio - 1) <= 0.05, $"{f.Figure}: {f.Estimated:E4} against {f.Reported:E4}");
        Assert.Equal(180e3, p.DeviceHoursPerTrillionTokens, 1e-6 * 180e3);
        // Our own parameter counting on the published config: 671B total, 37B active (we count 37.55B: the router and
        // norms of 58 MoE layers and the unembedding).
        Assert.InRange(figures.Single(f => f.Figure.StartsWith("total parameters")).Estimated, 670e9, 672e9);
        Assert.InRange(figures.Single(f => f.Figure.StartsWith("active parameters")).Estimated, 37e9, 38e9);
        var claims = DeepSeekV3Check.Claims(p);
        Assert.Contains(claims, c => c.StartsWith("\"3-5% of OpenAI's cost\": cannot be confirmed"));
        Assert.Contains(claims, c => c.Contains("$5.33M for pretraining"));
    }

    [Fact]
    public void TheArithmeticIsFlopsOverDeliveredPeakPricedByTheProfile()
    {
        var hw = HardwareProfile.Default with
        {
            Name = "t", PeakFlopsBf16 = 1e12, AcceleratorWatts = 300, CpuWattsMax = 50, OtherWatts = 50, Pue = 1.5, UsdPerHour = 2, UsdPerKwh = 0.1,
            GramsCo2PerKwh = 400,
        };
        var p = CostEstimate.Project("m", 10, 5, 30, false, 3.6e15, hw, "bf16", 0.25, "given");
        // 3.6e15 tokens x 30 FLOPs / (1e12 x 0.25) = 432,000 s = 120 h; 400 W x 1.5 x 120 h = 72 kWh.
        Assert.Equal(120, p.DeviceHours, 9);
        Assert.Equal(72, p.EnergyKwh, 9);
        Assert.Equal(120 * 2 + 72 * 0.1, p.Usd, 9);
        Assert.Equal(72 * 400, p.Co2Grams, 6);
        Assert.Equal(120 / 3600.0, p.DeviceHoursPerTrillionTokens, 12);
    }

    [Fact]
    public void APresetCountsAttentionThroughModelCost()
    {
        var cfg = Presets.Get("small-dense");
        var p = CostEstimate.Project("small-dense", cfg, 256, 1e9, HardwareProfile.Default, "bf16", 0.5, "given");
        var cost = ModelCost.Of(cfg, 256);
        Assert.True(p.AttentionCounted);
        Assert.Equal(cost.TrainingFlopsPerToken * 1e9, p.Flops, 1e-9 * p.Flops);
        Assert.True(p.FlopsPerToken > 6 * cost.ActiveParams - 6 * cost.EmbeddingParams); // more than the matmul weights alone
        var longer = CostEstimate.Project("small-dense", cfg, 1024, 1e9, HardwareProfile.Default, "bf16", 0.5, "given");
        Assert.True(longer.Flops > p.Flops);
    }

    [Fact]
    public void AMeasuredMfuIsTheRunsFlopRateOverItsHardwaresPeak()
    {
        var hw = HardwareProfile.Default with { PeakFlopsBf16 = 4e11 };
        var run = LedgerEntry.Compute("pretrain", DateTime.UtcNow, DateTime.UtcNow, 100, 150, 1000, 1e13, 0, "model", hw);
        Assert.Equal(0.25, CostEstimate.MeasuredMfu(run, "bf16", "ledger 'x'"), 12);
        // A ledger priced with a profile that has no fp8 peak (any older ledger: no peak at all) names the field.
        var e = Assert.Throws<SeekSharpException>(() => CostEstimate.MeasuredMfu(run, "fp8", "ledger 'x'"));
        Assert.Contains("ledger 'x'", e.Message);
        Assert.Contains("peak_flops_fp8", e.Message);
    }

    [Fact]
    public void ShippedProfilesLoadByNameWithTheirSources()
    {
        foreach (var name in HardwareProfile.BuiltinNames)
        {
            var hw = HardwareProfile.Resolve(name);
            Assert.NotNull(hw.PeakFlopsBf16);
            Assert.False(string.IsNullOrWhiteSpace(hw.Sources));
        }
        Assert.Null(HardwareProfile.Builtin("a100")!.PeakFlopsFp8); // no FP8 on Ampere
        Assert.Equal(2.0, HardwareProfile.Resolve("h800").UsdPerHour);
        var missing = Assert.Throws<SeekSharpException>(() => HardwareProfile.Resolve("h1000"));
        Assert.Contains("h1000", missing.Message);
    }

    [Fact]
    public void TheCommandPrintsTheCheckAndRefusesBadInputInOneLine()
    {
        var (code, output) = CliTests.Run("cost", "estimate", "--deepseek-v3");
        Assert.Equal(0, code);
        Assert.Contains("2.664M", output);
        Assert.Contains("cannot be confirmed", output);

        (code, output) = CliTests.Run("cost", "estimate", "--params-active", "37B", "--params-total", "671B", "--tokens", "1T", "--hardware", "h100", "--mfu", "0.4");
        Assert.Equal(0, code);
        // 2.22e23 FLOPs / (989.4e12 x 0.4) / 3600 = 155,818 GPU-hours.
        Assert.Contains("155,818", output);

        using var dir = new TempDir();
        var ledger = dir.File("ledger.json");
        LedgerEntry.Compute("pretrain", DateTime.UtcNow, DateTime.UtcNow, 100, 150, 1000, 3.75e12, 0, "model", HardwareProfile.Default).Write(ledger);
        (code, output) = CliTests.Run("cost", "estimate", "--preset", "tiny", "--tokens", "1B", "--from", dir.Path);
        Assert.Equal(0, code);
        Assert.Contains("10.0 % (measured: pretrain at 37.5 GFLOP/s", output); // 3.75e12 FLOPs in 100 s over a 375 GFLOP/s peak

        foreach (var (args, field) in new (string[], string)[]
        {
            (["--preset", "tiny", "--tokens", "lots", "--mfu", "0.5"], "--tokens"),
            (["--preset", "tiny", "--tokens", "1B"], "--mfu"),
            (["--preset", "tiny", "--tokens", "1B", "--mfu", "1.5"], "--mfu"),
            (["--tokens", "1B", "--mfu", "0.5"], "--preset"),
            (["--preset", "tiny", "--tokens", "1B", "--mfu", "0.5", "--precision", "fp8", "--hardware", "a100"], "peak_flops_fp8"),
            (["--params-active", "37B", "--params-total", "1B", "--tokens", "1B", "--mfu", "0.5"], "--params-total"),
        })
        {
            (code, output) = CliTests.Run(["cost", "estimate", .. args]);
            Assert.Equal(1, code);
            var line = Assert.Single(output.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.StartsWith("error:", line);
            Assert.Contains(field, line);
        }
    }
}
