using SeekSharp.Alignment;
using SeekSharp.Data.Synthetic;
using SeekSharp.Ledger;
using SeekSharp.Tests.Alignment;

namespace SeekSharp.Tests.Ledger;

/// <summary>The data resource's shares: what of the tokens was synthetic, human-labelled or curated, from the origins its
/// makers recorded (DataOrigin) and the manifests.</summary>
public class DataOriginTests(ChatModelFolder folder) : TempDirTest, IClassFixture<ChatModelFolder>
{
    static LedgerData Data(string treatment, params (string Name, long Tokens, string? Origin)[] sources) => new()
    {
        Dataset = "d", Treatment = treatment, Sources = [.. sources.Select(s => new LedgerDataSource(s.Name, null, 1, null, s.Tokens, 0, s.Origin))],
    };

    static LedgerEntry Entry(LedgerData? data, long tokens) =>
        LedgerEntry.Compute("sft", DateTime.UnixEpoch, DateTime.UnixEpoch.AddSeconds(1), 1, 1, tokens, 0, 0, EnergyMeter.ModelMethod, HardwareProfile.Default) with { Data = data };

    static ResourceLine Line(IReadOnlyList<ResourceLine> lines, string quantity) => lines.Single(l => l.Quantity == quantity);

    [Fact]
    public void SharesAreByTokensAndUnknownWhereAnOriginIs()
    {
        var lines = Entry(Data(LedgerData.AsGiven, ("a", 300, DataOrigin.Synthetic), ("b", 100, DataOrigin.HumanLabelled)), 400).Resources;
        Assert.Equal(0.75, Line(lines, "synthetic share").Value);
        Assert.Equal(0.25, Line(lines, "human-labelled share").Value);
        Assert.Equal(Provenance.Declared, Line(lines, "synthetic share").Method);
        Assert.Equal(0, Line(lines, "curated share").Value);
        Assert.Equal(Provenance.Measured, Line(lines, "curated share").Method);

        var unknown = Entry(Data(LedgerData.Curated, ("a", 300, DataOrigin.Synthetic), ("c", 100, null)), 400).Resources;
        Assert.Null(Line(unknown, "synthetic share").Value);
        Assert.Equal(Provenance.Unknown, Line(unknown, "synthetic share").Method);
        Assert.Equal(1, Line(unknown, "curated share").Value);
        Assert.Null(Line(Entry(null, 10).Resources, "synthetic share").Value); // read no dataset
    }

    [Fact]
    public void ATotalWeighsEachStagesShareByItsTokensAndIgnoresStagesThatReadNoData()
    {
        var pretrain = Entry(Data(LedgerData.AsGiven, ("corpus", 10, DataOrigin.Synthetic)), 3000);
        var sft = Entry(Data(LedgerData.AsGiven, ("chats", 10, DataOrigin.HumanLabelled)), 1000);
        var eval = Entry(null, 500);
        var total = LedgerTotalResources.Of(LedgerTotal.Sum("r", [pretrain, eval, sft]));
        Assert.Equal(0.75, Line(total, "synthetic share").Value);
        Assert.Equal(0.25, Line(total, "human-labelled share").Value);
    }

    [Fact]
    public void TheDeclaredAcquisitionCostIsBilledAndUnknownWhereASourceDeclaresNone()
    {
        static LedgerData Costed(params (string Origin, double? Usd)[] sources) => new()
        {
            Dataset = "d", Treatment = LedgerData.AsGiven,
            Sources = [.. sources.Select((s, i) => new LedgerDataSource($"s{i}", null, 1, null, 10, 0, s.Origin, s.Usd))],
        };
        var lines = Entry(Costed((DataOrigin.HumanLabelled, 120), (DataOrigin.Synthetic, null)), 20).Resources;
        var cost = Line(lines, "acquisition cost");
        Assert.Equal((120.0, Provenance.Declared, 120.0), (cost.Value!.Value, cost.Method, cost.Usd!.Value)); // generated data cost nothing more
        Assert.Equal(lines.Where(l => l.Resource != "money" && l.Usd is not null).Sum(l => l.Usd!.Value), Line(lines, "US dollars").Usd!.Value, 9);
        Assert.True(Line(lines, "US dollars").Usd > 120);
        var unknown = Line(Entry(Costed((DataOrigin.HumanLabelled, 120), (DataOrigin.Collected, null)), 20).Resources, "acquisition cost");
        Assert.Equal((null, Provenance.Unknown, null), (unknown.Value, unknown.Method, unknown.Usd));
        Assert.Equal(0, Line(Entry(null, 10).Resources, "acquisition cost").Value);            // read no dataset: acquired none

        var dir = NewDir();
        Directory.CreateDirectory(dir);
        var data = Path.Combine(dir, "labels.jsonl");
        DataOrigin.Write(data, DataOrigin.HumanLabelled, "paid annotators", acquisitionUsd: 42.5);
        Assert.Equal(42.5, DataOrigin.AcquisitionUsd(data));
        File.WriteAllText(DataOrigin.SidecarOf(data), """{"origin": "human-labelled", "acquisition_usd": -3}""");
        var e = Assert.Throws<SeekSharpException>(() => DataOrigin.AcquisitionUsd(data));
        Assert.Contains(DataOrigin.SidecarOf(data), e.Message);
        Assert.Contains("'acquisition_usd'", e.Message);
    }

    [Fact]
    public void AMalformedOriginRecordNamesItsFileAndField()
    {
        var dir = NewDir();
        Directory.CreateDirectory(dir);
        var data = Path.Combine(dir, "chats.jsonl");
        File.WriteAllText(DataOrigin.SidecarOf(data), """{"origin": "crowd"}""");
        var e = Assert.Throws<SeekSharpException>(() => DataOrigin.Read(data));
        Assert.Contains(DataOrigin.SidecarOf(data), e.Message);
        Assert.Contains("'origin'", e.Message);
    }

    [Fact]
    public void FineTuningRecordsEachSourcesOriginAndTokens()
    {
        var dir = NewDir();
        Directory.CreateDirectory(dir);
        // One file mixing people's conversations (declared human-labelled beside it) with generated problems.
        var synth = SyntheticData.Write("arithmetic", 3, seed: 1, Path.Combine(dir, "synth.jsonl"));
        Assert.Equal(DataOrigin.Synthetic, DataOrigin.Read(synth.Path)); // the generator says so
        var data = Path.Combine(dir, "mixed.jsonl");
        File.WriteAllLines(data, [.. File.ReadAllLines(folder.PingPong(4)), .. File.ReadAllLines(synth.Path)]);
        DataOrigin.Write(data, DataOrigin.HumanLabelled, "written by the test's people", acquisitionUsd: 12.5);
        var outDir = Path.Combine(dir, "sft");
        var train = SftConfig.DefaultTrain with { Steps = 1, BatchSize = 2, Precision = "fp32", WarmupSteps = 0, EvalEvery = 0, CheckpointEvery = 0 };
        var r = SftTrainer.Run(new SftConfig { ModelDir = folder.ModelDir, DataPath = data, OutDir = outDir, ValFraction = 0, Train = train });
        var d = LedgerEntry.Read(Path.Combine(outDir, "ledger.json")).Data!;
        var bySource = d.Sources.ToDictionary(s => s.Name);
        Assert.Equal(DataOrigin.HumanLabelled, bySource["mixed.jsonl (human-labelled)"].Origin);
        Assert.Equal(4, bySource["mixed.jsonl (human-labelled)"].DocumentsRead);
        Assert.Equal(DataOrigin.Synthetic, bySource["mixed.jsonl (synthetic)"].Origin);
        Assert.Equal(3, bySource["mixed.jsonl (synthetic)"].DocumentsRead);
        var tok = folder.Tokenizer;
        // Conversations longer than the context are left out of training, and of the tokens trained on.
        int context = folder.Config.MaxPositionEmbeddings, max = train.SeqLen > 0 ? Math.Min(train.SeqLen, context) : context;
        long Tokens(IEnumerable<ChatExample> ex) => ChatData.Encode(tok, [.. ex], max).Kept.Sum(k => (long)k.Ids.Length);
        var all = ChatData.Read(data);
        Assert.Equal(Tokens(all.Take(4)), bySource["mixed.jsonl (human-labelled)"].TrainTokens);
        Assert.Equal(Tokens(all.Skip(4)), bySource["mixed.jsonl (synthetic)"].TrainTokens);
        Assert.Equal(ChatData.Encode(tok, [.. all.Skip(4)], max).Kept.Count, bySource["mixed.jsonl (synthetic)"].DocumentsKept);
        Assert.True(Tokens(all.Skip(4)) > 0, "no synthetic problem fits the test model's context");
        // The file's declared cost goes with its people's part; the generated problems cost nothing more.
        Assert.Equal(12.5, bySource["mixed.jsonl (human-labelled)"].AcquisitionUsd);
        Assert.Null(bySource["mixed.jsonl (synthetic)"].AcquisitionUsd);
        Assert.Equal(12.5, r.Ledger.Resources.Single(l => l.Quantity == "acquisition cost").Value);
        var share = r.Ledger.Resources.Single(l => l.Quantity == "synthetic share");
        Assert.Equal((double)Tokens(all.Skip(4)) / Tokens(all), share.Value!.Value, 12);
    }
}
