using System.Text.Json.Nodes;
using SeekSharp.Ledger;
using SeekSharp.Reports;
using SeekSharp.Tests.Cli;

namespace SeekSharp.Tests.Ledger;

[Collection("Console")] // CliTests.Run redirects Console.Out
public class LedgerResourcesTests
{
    static readonly DateTime T0 = new(2026, 12, 7, 10, 0, 0, DateTimeKind.Utc);

    static LedgerEntry Entry(HardwareProfile? hw = null, double wall = 3600, LedgerStorage? storage = null) =>
        LedgerEntry.Compute("pretrain", T0, T0.AddSeconds(wall), wall, 2 * wall, 1000, 1e12, 3.6e6, "model", hw ?? HardwareProfile.Default, storage);

    static ResourceLine Line(IReadOnlyList<ResourceLine> lines, string resource, string quantity) =>
        lines.Single(l => l.Resource == resource && l.Quantity == quantity);

    [Fact]
    public void EveryResourceIsThereWithHowItWasObtainedAndMoneyIsTheSumOfThePricedOnes()
    {
        var hw = HardwareProfile.Default with
        {
            UsdPerHour = 1, UsdPerKwh = 0.5, PeopleHours = new() { ["pretrain"] = 2 }, UsdPerPersonHour = 50, UsdPerGbMonth = 0.1,
            LitersWaterPerKwh = 1.8,
        };
        var storage = LedgerStorage.Of([new StorageArtifact { Path = "model.safetensors", Kind = StorageKind.Weights, Bytes = 2_000_000_000, Kept = true }]);
        var e = Entry(hw, storage: storage);
        var lines = e.Resources;
        Assert.Equal(ResourceLine.Resources, lines.Select(l => l.Resource).Distinct());
        Assert.Equal(Provenance.Estimated, Line(lines, "compute", "model FLOPs").Method);
        Assert.Equal(Provenance.Measured, Line(lines, "compute", "CPU core-seconds").Method);
        Assert.Equal(Provenance.Declared, Line(lines, "people", "person-hours").Method);
        Assert.Equal(2, Line(lines, "people", "person-hours").Value);
        Assert.Equal(0, Line(lines, "network", "bytes sent and received").Value); // a v2 run that sent nothing: zero, measured
        Assert.Equal(1.8, Line(lines, "energy", "water").Value!.Value, 9);      // 1 kWh (3.6 MJ, PUE in the joules)
        // $1/h x 1 h + $0.5/kWh x 1 kWh... the energy meter's joules are the entry's: 1 kWh; people 2 h x $50; 2 GB kept x $0.1.
        var money = Line(lines, "money", "US dollars").Value!.Value;
        Assert.Equal(1 + 0.5 + 100 + 0.2, money, 9);
        Assert.Equal(1.0, LedgerResources.Shares(lines).Sum(s => s.Share), 9);
    }

    [Fact]
    public void AnOlderLedgerLoadsWithItsMissingResourcesUnknownNotZero()
    {
        using var dir = new TempDir();
        var path = dir.File("ledger.json");
        // A ledger of 2026-11 (version 1): no ledger_version, storage, network or resources.
        File.WriteAllText(path, """
            { "kind": "pretrain", "started_utc": "2026-11-20T10:00:00Z", "ended_utc": "2026-11-20T11:00:00Z", "wall_seconds": 3600,
              "cpu_seconds": 7000, "tokens": 1000, "model_flops": 1e12, "achieved_flops_per_second": 277777777.8, "energy_kwh": 0.01,
              "energy_method": "model", "co2_grams": 4.75, "usd": 0.096,
              "hardware": { "name": "old", "cores": 2, "cpu_watts_idle": 1.5, "cpu_watts_max": 7, "other_watts": 3, "pue": 1.1,
                            "usd_per_hour": 0.096, "usd_per_kwh": 0, "grams_co2_per_kwh": 475 } }
            """);
        var lines = LedgerEntry.Read(path).Resources;
        foreach (var (r, q) in new[] { ("people", "person-hours"), ("storage", "bytes kept"), ("network", "bytes sent and received") })
        {
            Assert.Null(Line(lines, r, q).Value);
            Assert.Equal(Provenance.Unknown, Line(lines, r, q).Method);
        }
        Assert.Equal("unknown", CompareReport.Format(Line(lines, "network", "bytes sent and received")));
        Assert.Equal(3600, Line(lines, "time", "wall seconds").Value);
    }

    [Fact]
    public void AWrittenLedgerCarriesItsVersionAndResourcesAndReadsBack()
    {
        using var dir = new TempDir();
        var path = dir.File("ledger.json");
        Entry().Write(path);
        var json = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        Assert.Equal(2, (int)json["ledger_version"]!);
        Assert.Equal(ResourceLine.Resources, json["resources"]!.AsArray().Select(r => (string)r!["resource"]!).Distinct());
        var back = LedgerEntry.Read(path);
        Assert.Equal(2, back.LedgerVersion);
        Assert.Equal(Entry().Resources.Count, back.Resources.Count);
    }

    [Fact]
    public void ATotalSumsItsStagesAndIsUnknownWhereAStageIs()
    {
        var known = Entry();
        var old = Entry() with { LedgerVersion = 0 };
        var both = LedgerTotalResources.Of(LedgerTotal.Sum("r1", [known, known]));
        Assert.Equal(7200, Line(both, "time", "wall seconds").Value);
        Assert.Equal(0, Line(both, "network", "bytes sent and received").Value);
        var mixed = LedgerTotalResources.Of(LedgerTotal.Sum("r1", [known, old]));
        Assert.Null(Line(mixed, "network", "bytes sent and received").Value);
        Assert.Equal(7200, Line(mixed, "time", "wall seconds").Value);
    }

    [Fact]
    public void CompareWritesTablesChartsAndAPageThatNeedsNoNetwork()
    {
        using var dir = new TempDir();
        var a = Directory.CreateDirectory(dir.File("a")).FullName;
        var b = Directory.CreateDirectory(dir.File("b")).FullName;
        Entry(wall: 100).Write(Path.Combine(a, "ledger.json"));
        Entry(wall: 200).Write(Path.Combine(b, "ledger.json"));
        File.WriteAllLines(Path.Combine(a, "metrics.jsonl"), ["{\"step\":1,\"loss\":5.0}", "{\"step\":2,\"loss\":4.5}"]);
        var total = dir.File("total.json");
        LedgerTotal.Sum("r1", [Entry(wall: 100), Entry(wall: 300)]).Write(total);
        var outDir = dir.File("cmp");
        var (code, output) = CliTests.Run("report", "compare", a, b, total, "--out", outDir);
        Assert.Equal(0, code);
        Assert.Contains("compare.html", output);
        var md = File.ReadAllText(Path.Combine(outDir, "compare.md"));
        Assert.Contains("| time | wall seconds | 100 s (measured) | 1x | 200 s (measured) | 2x | 400 s (measured) | 4x |", md);
        var html = File.ReadAllText(Path.Combine(outDir, "compare.html"));
        Assert.Equal(2, html.Split("src=\"data:image/png;base64,").Length - 1); // bars and a's loss curve, embedded
        Assert.DoesNotContain("http", html);
        Assert.True(File.Exists(Path.Combine(outDir, "compare.png")) && File.Exists(Path.Combine(outDir, "curves.png")));

        (code, output) = CliTests.Run("report", "compare", a, dir.File("nope"), "--out", outDir);
        Assert.Equal(1, code);
        Assert.StartsWith("error:", output.Trim());
        Assert.Contains("nope", output);
        var bad = dir.File("bad.json");
        File.WriteAllText(bad, "{ \"kind\": ");
        (code, output) = CliTests.Run("report", "compare", bad, "--out", outDir);
        Assert.Equal(1, code);
        Assert.Contains("bad.json", Assert.Single(output.Split('\n', StringSplitOptions.RemoveEmptyEntries)));
    }
    [Fact]
    public void ARecipesPeakIsItsStagesRunOneAfterAnotherNotTheSumOfTheirPeaks()
    {
        static LedgerStorage Kept(long peak, long kept) =>
            LedgerStorage.Of([new StorageArtifact { Path = "w", Kind = StorageKind.Weights, Bytes = kept, Kept = true }]) with { PeakBytes = peak };
        var a = Entry(storage: Kept(2000, 500));
        var b = Entry(storage: Kept(1000, 1000));
        Assert.Equal(2000, Line(LedgerTotalResources.Of(LedgerTotal.Sum("r", [a, b])), "storage", "peak disk use").Value); // max(2000, 500 + 1000)
        Assert.Equal(3000, Line(LedgerTotalResources.Of(LedgerTotal.Sum("r", [b, a])), "storage", "peak disk use").Value); // max(1000, 1000 kept + 2000)
        Assert.Equal((2000L, 3000L), (LedgerTotal.Sum("r", [a, b]).Storage!.PeakBytes!.Value, LedgerTotal.Sum("r", [b, a]).Storage!.PeakBytes!.Value)); // the merged storage says the same
        var older = Entry(storage: LedgerStorage.Of([])); // a v2 ledger written before the peak was kept
        Assert.Equal(Provenance.Unknown, Line(older.Resources, "storage", "peak disk use").Method);
        Assert.Null(Line(LedgerTotalResources.Of(LedgerTotal.Sum("r", [a, older])), "storage", "peak disk use").Value);
        Assert.Null(LedgerTotal.Sum("r", [a, older]).Storage!.PeakBytes);
        Assert.Equal(0, Line(Entry().Resources, "storage", "peak disk use").Value); // a current ledger that wrote nothing
    }
}

[Collection("Console")] // CliTests.Run redirects Console.Out
public class LedgerDataTests(SeekSharp.Tests.Training.TinyDataset data) : IClassFixture<SeekSharp.Tests.Training.TinyDataset>
{
    [Fact]
    public void ACuratedDatasetGivesDocumentsAndBytesPerSource()
    {
        var m = new SeekSharp.Data.Curation.CurationManifest
        {
            Sources =
            [
                new() { Name = "spam", In = 6046, Kept = 4478, BytesIn = 32_506_017, TrainTokens = 2_147_856, ValTokens = 115_341 },
                new() { Name = "sotu", In = 233, Kept = 232, BytesIn = 10_761_413, TrainTokens = 2_810_050, ValTokens = 64_423 },
            ],
        };
        var d = LedgerData.Of(m, "data");
        Assert.Equal("curated", d.Treatment);
        Assert.Equal(6279, d.DocumentsRead);
        Assert.Equal(4710, d.DocumentsKept);
        Assert.Equal(43_267_430, d.BytesRead);
        var hw = HardwareProfile.Default;
        var e = LedgerEntry.Compute("pretrain", DateTime.UtcNow, DateTime.UtcNow, 1, 1, 1, 1, 0, "model", hw) with { Data = d };
        var read = e.Resources.Single(l => l.Quantity == "documents read");
        Assert.Equal((6279.0, Provenance.Measured), (read.Value!.Value, read.Method));
    }

    [Fact]
    public void ATrainingRunsLedgerNamesItsDatasetAndATokenizedOneKnowsNoBytesRead()
    {
        var run = data.NewRunDir();
        var (code, output) = CliTests.Run("base", "train", "--data", data.DataDir, "--out", run, "--steps", "2", "--batch-size", "2", "--seq-len", "16");
        Assert.True(code == 0, output);
        Assert.Contains("resources: compute", output);
        var e = LedgerEntry.Read(Path.Combine(run, "ledger.json"));
        Assert.Equal("as given", e.Data!.Treatment);
        Assert.Equal(SeekSharp.Data.DatasetManifest.Load(Path.Combine(data.DataDir, "dataset.json")).Train.Tokens, e.Data.Sources.Single().TrainTokens);
        Assert.Equal(Provenance.Unknown, e.Resources.Single(l => l.Quantity == "bytes read").Method);
        Assert.Contains("### Resources", File.ReadAllText(Path.Combine(run, "report.md")));
    }

    static ResourceLine Line(IReadOnlyList<ResourceLine> lines, string resource, string quantity) =>
        lines.Single(l => l.Resource == resource && l.Quantity == quantity);

    [Fact]
    public void DeclaredPeopleHoursGoToTheFirstLedgerOnlyReplaceTheProfilesDefaultAndAddUpOnResume()
    {
        var hw = HardwareProfile.Default with { PeopleHours = new() { ["*"] = 5 } };
        LedgerEntry first, second, resumed;
        using (RunLedger.DeclarePeopleHours(1.5))
        {
            using (var a = RunLedger.Start("data-prepare", hw)) first = a.Finish();
            using (var b = RunLedger.Start("pretrain", hw)) second = b.Finish();   // a recipe's next stage: counted once
        }
        Assert.Equal(1.5, first.DeclaredPeopleHours);
        Assert.Equal(1.5, Line(first.Resources, "people", "person-hours").Value);
        Assert.Null(second.DeclaredPeopleHours);
        Assert.Equal(5, Line(second.Resources, "people", "person-hours").Value);      // the profile's default
        using (RunLedger.DeclarePeopleHours(0.5))
        using (var c = RunLedger.Continue("data-prepare", hw, first)) resumed = c.Finish();
        Assert.Equal(2.0, resumed.DeclaredPeopleHours);
        using (var d = RunLedger.Start("pretrain", hw)) Assert.Null(d.Finish().DeclaredPeopleHours);   // nothing pending after the command
        Assert.Throws<SeekSharpException>(() => RunLedger.DeclarePeopleHours(-1));
    }

    [Fact]
    public void PeopleHoursIsAFlagOfEveryCommand()
    {
        var run = data.NewRunDir();
        var (code, output) = CliTests.Run("base", "train", "--data", data.DataDir, "--out", run, "--steps", "1", "--batch-size", "2", "--seq-len", "16", "--people-hours", "0.25");
        Assert.True(code == 0, output);
        var e = LedgerEntry.Read(Path.Combine(run, "ledger.json"));
        Assert.Equal(0.25, e.DeclaredPeopleHours);
        Assert.Equal((0.25, Provenance.Declared), (Line(e.Resources, "people", "person-hours").Value!.Value, Line(e.Resources, "people", "person-hours").Method));
        (code, output) = CliTests.Run("base", "train", "--data", data.DataDir, "--out", data.NewRunDir(), "--people-hours", "-2");
        Assert.Equal(1, code);
        Assert.Matches(@"^error: --people-hours: expected a number of hours >= 0, got -2\.\s*$", output);
    }
}
