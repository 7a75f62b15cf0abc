using SeekSharp.Ledger;

namespace SeekSharp.Tests.Ledger;

public class EnergyTests
{
    private static readonly HardwareProfile Hw = HardwareProfile.Default with
    {
        Cores = 4, CpuWattsIdle = 10, CpuWattsMax = 50, OtherWatts = 5, Pue = 1.2,
    };

    [Fact]
    public void PowerModelMatchesHandComputation()
    {
        // 100 s wall, 200 CPU s on 4 cores: utilization 0.5; watts (10 + 40*0.5 + 5) * 1.2 = 42; joules 4200.
        Assert.Equal(0.5, PowerModel.Utilization(200, 100, 4), 12);
        Assert.Equal(4200, PowerModel.Joules(Hw, cpuSeconds: 200, wallSeconds: 100), 9);
    }

    [Fact]
    public void UtilizationIsClamped()
    {
        Assert.Equal(1, PowerModel.Utilization(1000, 100, 4));
        Assert.Equal(0, PowerModel.Utilization(-1, 100, 4));
        // Full load: (50 + 5) * 1.2 * 10 s.
        Assert.Equal(660, PowerModel.Joules(Hw, 1000, 10), 9);
        Assert.Equal(0, PowerModel.Joules(Hw, 5, 0));
    }

    [Fact]
    public void RaplDeltaHandlesWraparound()
    {
        Assert.Equal(500, Rapl.DeltaMicrojoules(1_000, 1_500, 10_000));
        // Wrapped at 10 000: 9 000 -> 10 000 is 1 000, then 0 -> 300 is 300.
        Assert.Equal(1_300, Rapl.DeltaMicrojoules(9_000, 300, 10_000));
        Assert.Equal(0, Rapl.DeltaMicrojoules(42, 42, 10_000));
    }

    [Fact]
    public void FallsBackToModelWithoutReadableRapl()
    {
        using var dir = new TempDir();
        using var meter = EnergyMeter.Start(Hw, dir.Path);
        var r = meter.Stop();
        Assert.Equal(EnergyMeter.ModelMethod, r.Method);
        Assert.True(r.Joules >= 0 && double.IsFinite(r.Joules));
    }

    [Fact]
    public void ReadsFakeRaplCountersAcrossAWrap()
    {
        using var dir = new TempDir();
        var pkg = Directory.CreateDirectory(Path.Combine(dir.Path, "intel-rapl:0")).FullName;
        // A sub-domain is already inside the package count and must be ignored.
        var sub = Directory.CreateDirectory(Path.Combine(dir.Path, "intel-rapl:0:0")).FullName;
        File.WriteAllText(Path.Combine(pkg, "max_energy_range_uj"), "10000000\n");
        File.WriteAllText(Path.Combine(pkg, "energy_uj"), "9000000\n");
        File.WriteAllText(Path.Combine(sub, "max_energy_range_uj"), "10000000\n");
        File.WriteAllText(Path.Combine(sub, "energy_uj"), "0\n");
        var hw = Hw with { OtherWatts = 0, Pue = 1.0 };
        using var meter = EnergyMeter.Start(hw, dir.Path);
        Assert.Equal(EnergyMeter.RaplMethod, meter.Method);
        File.WriteAllText(Path.Combine(pkg, "energy_uj"), "2000000\n"); // wrapped: 1 J + 2 J
        File.WriteAllText(Path.Combine(sub, "energy_uj"), "5000000\n");
        var r = meter.Stop();
        Assert.Equal(EnergyMeter.RaplMethod, r.Method);
        Assert.Equal(3.0, r.Joules, 9);
    }
}
