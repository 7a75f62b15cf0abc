using SeekSharp.Ledger;

namespace SeekSharp.Tests.Ledger;

public class RunLedgerTests
{
    private static readonly HardwareProfile Hw = HardwareProfile.Default with
    {
        UsdPerHour = 2.0, UsdPerKwh = 0.25, GramsCo2PerKwh = 400,
    };

    private static LedgerEntry Fixed(string kind = "pretrain", double joules = 7.2e6, string method = "model") =>
        LedgerEntry.Compute(kind, new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc),
            new DateTime(2026, 1, 1, 0, 30, 0, DateTimeKind.Utc), wallSeconds: 1800, cpuSeconds: 3000,
            tokens: 1_000_000, modelFlops: 3.6e15, joules: joules, energyMethod: method, hw: Hw);

    [Fact]
    public void PricesFixedInputs()
    {
        var e = Fixed();
        // 7.2 MJ = 2 kWh; CO2 2 * 400 g; USD 2 $/h * 0.5 h + 0.25 $/kWh * 2 kWh = 1.5.
        Assert.Equal(2.0, e.EnergyKwh, 12);
        Assert.Equal(800, e.Co2Grams, 9);
        Assert.Equal(1.5, e.Usd, 12);
        Assert.Equal(2e12, e.AchievedFlopsPerSecond, 3);
    }

    [Fact]
    public void WriteReadRoundTrips()
    {
        using var dir = new TempDir();
        var path = dir.File("ledger.json");
        var e = Fixed();
        e.Write(path);
        Assert.Equal(e, LedgerEntry.Read(path));
        Assert.Contains("\"energy_method\": \"model\"", File.ReadAllText(path));
    }

    [Fact]
    public void ReadRejectsNegativeField()
    {
        using var dir = new TempDir();
        var path = dir.File("ledger.json");
        Fixed().Write(path);
        File.WriteAllText(path, File.ReadAllText(path).Replace("\"tokens\": 1000000", "\"tokens\": -1"));
        var ex = Assert.Throws<SeekSharpException>(() => LedgerEntry.Read(path));
        Assert.Contains(path, ex.Message);
        Assert.Contains("tokens", ex.Message);
    }

    [Fact]
    public void SumsStages()
    {
        var total = LedgerTotal.Sum("recipe", [Fixed("pretrain"), Fixed("sft", 3.6e6, "rapl")]);
        Assert.Equal(3.0, total.EnergyKwh, 12);
        Assert.Equal(1200, total.Co2Grams, 9);
        Assert.Equal(1.5 + 1.25, total.Usd, 12);
        Assert.Equal(2_000_000, total.Tokens);
        Assert.Equal(LedgerTotal.MixedMethod, total.EnergyMethod);
        Assert.Equal(2, total.Stages.Count);
    }

    [Fact]
    public void SumsLedgerFiles()
    {
        using var dir = new TempDir();
        Fixed("a").Write(dir.File("a/ledger.json"));
        Fixed("b").Write(dir.File("b/ledger.json"));
        var total = LedgerTotal.SumFiles("recipe", [dir.File("a/ledger.json"), dir.File("b/ledger.json")]);
        Assert.Equal(3.0, total.Usd, 12);
        total.Write(dir.File("total.json"));
        Assert.True(new FileInfo(dir.File("total.json")).Length > 0);
    }

    [Fact]
    public void TracksALiveRun()
    {
        using var dir = new TempDir();
        using var run = RunLedger.Start("bench", Hw, dir.Path); // empty RAPL root: model
        run.AddTokens(100);
        run.AddFlops(1e6);
        run.AddTokens(28);
        var e = run.Finish();
        Assert.Same(e, run.Finish());
        Assert.Equal(128, e.Tokens);
        Assert.Equal(1e6, e.ModelFlops);
        Assert.Equal("model", e.EnergyMethod);
        Assert.True(e.EndedUtc >= e.StartedUtc);
        Assert.True(e.Usd >= 0 && e.Co2Grams >= 0);
    }
}

public class CriticalPathTests
{
    [Fact]
    public void TheLongestChainOfDependentStagesIsThePath()
    {
        // a -> b -> d and a -> c -> d, c longer than b; e hangs off b and nothing needs it.
        var cp = CriticalPath.Of([new("a", 1, []), new("b", 2, [0]), new("c", 5, [0]), new("d", 1, [1, 2]), new("e", 3, [1])]);
        Assert.Equal(["a", "c", "d"], cp.Stages);
        Assert.Equal(7, cp.WallSeconds);
        Assert.Equal(["x"], CriticalPath.Of([new("x", 4, []), new("y", 1, [])]).Stages); // independent: the longest alone
        Assert.Throws<ArgumentException>(() => CriticalPath.Of([new("a", 1, [0])]));   // a stage needs only earlier ones
    }
}
