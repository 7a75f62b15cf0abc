using System.Text.Json.Nodes;
using SeekSharp.Checkpoints;
using SeekSharp.Ledger;
using SeekSharp.Reports;
using SeekSharp.Tests.Modeling;
using SeekSharp.Tests.Training;
using SeekSharp.Training;

namespace SeekSharp.Tests.Ledger;

// The ledger's storage section: what a run wrote, by kind, measured on disk. A tiny pretraining run
// (4 steps, a checkpoint every step, the newest 2 kept) is the worked example: its ledger.json must say
// exactly the bytes of model.safetensors and of each checkpoint, including the two it pruned, and a
// resumed run must record what the uninterrupted one did.
public class StorageLedgerTests(TinyDataset data) : IClassFixture<TinyDataset>
{
    static readonly TrainConfig FourSteps = new()
    {
        Steps = 4, BatchSize = 1, SeqLen = 8, Precision = "fp32", WarmupSteps = 1, EvalEvery = 0, EvalBatches = 1,
        CheckpointEvery = 1, KeepCheckpoints = 2, BiasUpdateSpeed = 0.01,
    };

    PretrainOptions Options(string run, bool resume = false) =>
        new(data.DataDir, run, TestModels.Mla() with { MaxPositionEmbeddings = 8 }, FourSteps, resume);

    static long Size(string path) => LedgerStorage.SizeOf(path) ?? throw new FileNotFoundException(path);

    [Fact]
    public void PretrainingRecordsWeightsAndEveryCheckpointAndResumeRecordsTheSame()
    {
        var straight = data.NewRunDir();
        var result = Pretrainer.Run(Options(straight));
        var s = result.Ledger.Storage!;

        // ledger.json as written: the documented field names, and the weights equal to the file's size.
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(straight, "ledger.json")))!["storage"]!;
        long weights = new FileInfo(Path.Combine(straight, ModelFiles.WeightsFile)).Length;
        Assert.Equal(weights, (long)json["by_kind"]!["weights"]!["written_bytes"]!);
        Assert.Equal(weights, (long)json["by_kind"]!["weights"]!["kept_bytes"]!);
        var model = json["artifacts"]!.AsArray().Single(a => (string)a!["path"]! == "model.safetensors")!;
        Assert.Equal("weights", (string)model["kind"]!);
        Assert.Equal(weights, (long)model["bytes"]!);
        Assert.True((bool)model["kept"]!);

        // Four checkpoints written, the first two pruned: written counts all four, kept the two on disk, each exactly.
        var ckpts = s.Artifacts.Where(a => a.Kind == StorageKind.Checkpoint).ToList();
        Assert.Equal(["checkpoints/step_000001", "checkpoints/step_000002", "checkpoints/step_000003", "checkpoints/step_000004"], ckpts.Select(a => a.Path));
        Assert.Equal([false, false, true, true], ckpts.Select(a => a.Kept));
        Assert.Equal(Size(TrainingCheckpoint.Folder(straight, 3)), ckpts[2].Bytes);
        Assert.Equal(Size(TrainingCheckpoint.Folder(straight, 4)), ckpts[3].Bytes);
        Assert.All(ckpts.Take(2), a => Assert.True(a.Bytes > weights, $"{a.Path}: {a.Bytes} bytes, less than the weights alone"));
        Assert.Equal(ckpts.Sum(a => a.Bytes), s.ByKind[StorageKind.Checkpoint].WrittenBytes);
        Assert.Equal(ckpts[2].Bytes + ckpts[3].Bytes, s.ByKind[StorageKind.Checkpoint].KeptBytes);
        Assert.Contains(s.Artifacts, a => a.Path == "config.json" && a.Kind == StorageKind.Other);
        Assert.Equal(s.Artifacts.Sum(a => a.Bytes), s.WrittenBytes);
        // Peak disk use: checkpoint 4 is recorded before checkpoint 2 is rotated out, so three were on disk at once, more than
        // the run keeps at the end (two checkpoints and the weights; a checkpoint holds the weights and more).
        Assert.True(s.PeakBytes >= ckpts[1].Bytes + ckpts[2].Bytes + ckpts[3].Bytes, $"peak {s.PeakBytes}");
        Assert.True(s.PeakBytes > s.KeptBytes);
        Assert.True(s.PeakBytes <= s.WrittenBytes);
        var peakLine = result.Ledger.Resources.Single(l => l.Quantity == "peak disk use");
        Assert.Equal((double)s.PeakBytes!.Value, peakLine.Value);
        Assert.Equal(Provenance.Measured, peakLine.Method);
        Assert.Equal(s.PeakBytes, (long)json["peak_bytes"]!);

        // Killed before checkpoint 3: checkpoint 2's snapshot predates it, so the resume measures it; checkpoint 1 comes from the snapshot.
        var run = data.NewRunDir();
        Assert.Throws<OperationCanceledException>(() => Pretrainer.Run(Options(run), new KillAt(3)));
        Assert.EndsWith("step_000002", TrainingCheckpoint.Latest(run));
        long step1 = Size(TrainingCheckpoint.Folder(run, 1)), step2 = Size(TrainingCheckpoint.Folder(run, 2));
        var resumed = Pretrainer.Run(Options(run, resume: true)).Ledger.Storage!;

        Assert.Equal(s.Artifacts.Select(a => (a.Path, a.Kind, a.Kept)), resumed.Artifacts.Select(a => (a.Path, a.Kind, a.Kept)));
        Assert.Equal(step1, resumed.Artifacts.Single(a => a.Path == "checkpoints/step_000001").Bytes);
        Assert.Equal(step2, resumed.Artifacts.Single(a => a.Path == "checkpoints/step_000002").Bytes);
        Assert.Equal(Size(TrainingCheckpoint.Folder(run, 4)), resumed.Artifacts.Single(a => a.Path == "checkpoints/step_000004").Bytes);
        Assert.Equal(weights, resumed.ByKind[StorageKind.Weights].WrittenBytes);
        Assert.True(resumed.PeakBytes >= resumed.Artifacts.Where(a => a.Kind == StorageKind.Checkpoint).Skip(1).Sum(a => a.Bytes)); // the peak survives the kill

        // The report shows the storage line, and its own files are added to ledger.json after it.
        var report = RunReport.Write(straight, "tiny");
        var text = File.ReadAllText(report);
        Assert.Contains("Storage: ", text);
        Assert.Contains($"{LedgerStorage.Bytes(weights)} weights", text);
        Assert.Contains($"{LedgerStorage.Bytes(s.ByKind[StorageKind.Checkpoint].WrittenBytes)} checkpoints ({LedgerStorage.Bytes(s.ByKind[StorageKind.Checkpoint].KeptBytes)} kept)", text);
        var after = LedgerEntry.Read(Path.Combine(straight, "ledger.json")).Storage!;
        Assert.Equal(new FileInfo(report).Length, after.Artifacts.Single(a => a.Path == "report.md" && a.Kind == StorageKind.Report).Bytes);
        Assert.Equal(new FileInfo(Path.Combine(straight, "loss.png")).Length, after.Artifacts.Single(a => a.Path == "loss.png").Bytes);
        Assert.Equal(s.WrittenBytes + after.ByKind[StorageKind.Report].WrittenBytes, after.WrittenBytes);
    }

    /// <summary>Dies at step <paramref name="step"/>, before that step's checkpoint is written.</summary>
    sealed class KillAt(int step) : ITrainingObserver
    {
        public void OnStep(StepMetrics m)
        {
            if (m.Step == step) throw new OperationCanceledException("simulated kill");
        }
    }
}

public class StorageSectionTests
{
    static LedgerEntry Old() => LedgerEntry.Compute("pretrain", new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc),
        new DateTime(2026, 1, 1, 0, 30, 0, DateTimeKind.Utc), 1800, 3000, 1000, 1e12, 3.6e6, "model", HardwareProfile.Default);

    static StorageArtifact A(string path, string kind, long bytes, bool kept = true) => new() { Path = path, Kind = kind, Bytes = bytes, Kept = kept };

    [Fact]
    public void ALedgerWithoutStorageLoadsAndItsReportHasNoStorageLine()
    {
        using var dir = new TempDir();
        var path = dir.File("ledger.json");
        Old().Write(path);
        var text = File.ReadAllText(path);
        Assert.DoesNotContain("\"storage\":", text); // no storage section, as ledgers were written before it existed
        var e = LedgerEntry.Read(path);
        Assert.Null(e.Storage);
        var md = new System.Text.StringBuilder();
        RunReport.CostSection(md, e);
        Assert.DoesNotContain("Storage", md.ToString());
    }

    [Fact]
    public void TotalsThatDisagreeWithTheArtifactsAreRefusedNamingTheField()
    {
        using var dir = new TempDir();
        var path = dir.File("ledger.json");
        (Old() with { Storage = LedgerStorage.Of([A("model.safetensors", "weights", 1000)]) }).Write(path);
        Assert.Equal(1000, LedgerEntry.Read(path).Storage!.WrittenBytes);
        var node = JsonNode.Parse(File.ReadAllText(path))!;
        node["storage"]!["written_bytes"] = 999;
        File.WriteAllText(path, node.ToJsonString());
        var ex = Assert.Throws<SeekSharpException>(() => LedgerEntry.Read(path));
        Assert.Contains("storage.written_bytes", ex.Message);
        node["storage"]!["written_bytes"] = 1000;
        node["storage"]!["artifacts"]![0]!["kind"] = "weight";
        File.WriteAllText(path, node.ToJsonString());
        Assert.Contains("storage.artifacts[].kind", Assert.Throws<SeekSharpException>(() => LedgerEntry.Read(path)).Message);
    }

    [Theory]
    [InlineData(0, "0 B")]
    [InlineData(999, "999 B")]
    [InlineData(1000, "1.00 kB")]
    [InlineData(1_234_567, "1.23 MB")]
    [InlineData(34_560_000, "34.6 MB")]
    [InlineData(999_600_000, "1.00 GB")]
    public void BytesAreDecimalWithThreeFigures(long n, string expected) => Assert.Equal(expected, LedgerStorage.Bytes(n));

    [Fact]
    public void ARecordedPathIsReplacedAndTotalsArePerKind()
    {
        var s = LedgerStorage.Of([A("model.safetensors", "weights", 1_200_000), A("checkpoints/step_000001", "checkpoint", 3_000_000, kept: false),
            A("checkpoints/step_000002", "checkpoint", 3_000_000), A("report.md", "report", 500), A("report.md", "report", 700)]);
        Assert.Equal(4, s.Artifacts.Count);
        Assert.Equal(700, s.ByKind["report"].WrittenBytes);
        Assert.Equal(6_000_000, s.ByKind["checkpoint"].WrittenBytes);
        Assert.Equal(3_000_000, s.ByKind["checkpoint"].KeptBytes);
        Assert.Equal("1.20 MB weights, 6.00 MB checkpoints (3.00 MB kept), 700 B report; 7.20 MB written, 4.20 MB kept", s.Summary());
    }

    [Fact]
    public void ALiveLedgerMeasuresFilesAndFoldersAndATotalPrefixesStageFolders()
    {
        using var dir = new TempDir();
        File.WriteAllBytes(dir.File("model.safetensors"), new byte[123]);
        Directory.CreateDirectory(dir.File("ck/a"));
        File.WriteAllBytes(dir.File("ck/x.bin"), new byte[10]);
        File.WriteAllBytes(dir.File("ck/a/y.bin"), new byte[5]);
        using var ledger = RunLedger.Start("t", HardwareProfile.Default, raplRoot: dir.Path, runDir: dir.Path);
        ledger.RecordStorage(dir.File("model.safetensors"), StorageKind.Weights);
        ledger.RecordStorage(dir.File("ck"), StorageKind.Checkpoint);
        Assert.Throws<ArgumentException>(() => ledger.RecordStorage(dir.File("model.safetensors"), "weight"));
        Assert.Throws<InvalidOperationException>(() => ledger.RecordStorage(dir.File("missing.bin"), StorageKind.Data));
        Directory.Delete(dir.File("ck"), recursive: true);
        var e = ledger.Finish();
        Assert.Equal([("model.safetensors", 123L, true), ("ck", 15L, false)], e.Storage!.Artifacts.Select(a => (a.Path, a.Bytes, a.Kept)));

        var total = LedgerTotal.Sum("recipe", [e, Old(), e], ["pretrain", "samples", "sft"]);
        Assert.Equal(["pretrain/model.safetensors", "pretrain/ck", "sft/model.safetensors", "sft/ck"], total.Storage!.Artifacts.Select(a => a.Path));
        Assert.Equal(246, total.Storage.ByKind["weights"].WrittenBytes);

        using var bare = RunLedger.Start("t", HardwareProfile.Default, raplRoot: dir.Path);
        Assert.Throws<InvalidOperationException>(() => bare.RecordStorage(dir.File("model.safetensors"), StorageKind.Weights));
        Assert.Null(bare.Finish().Storage);
    }
}

/// <summary>`seek export gguf` writes FILE.ledger beside the file: the export's bytes and the source weights it was made from.</summary>
[Collection("Console")] // CliTests.Run redirects Console.Out
public sealed class ExportLedgerTests : TempDirTest
{
    [Fact]
    public void ExportWritesALedgerWithTheFileAndItsSource()
    {
        var dir = NewDir();
        using (var model = new SeekSharp.Modeling.Transformer(SeekSharp.Modeling.Presets.Get("tiny") with { VocabSize = SeekSharp.Tests.Tokenization.TokenizerFixture.VocabSize }, seed: 1))
        {
            SeekSharp.Tests.Tokenization.TokenizerFixture.Tokenizer.Save(dir); // first: config.json takes the special ids from it
            ModelFiles.Save(dir, model);
        }
        var outDir = NewDir();
        var gguf = Path.Combine(outDir, "m.gguf");
        var (code, text) = SeekSharp.Tests.Cli.CliTests.Run("export", "gguf", "--model", dir, "--out", gguf);
        Assert.True(code == 0, text);
        var storage = LedgerEntry.Read(gguf + ".ledger").Storage!;
        var export = Assert.Single(storage.Artifacts);
        Assert.Equal(("m.gguf", StorageKind.Export, new FileInfo(gguf).Length, true), (export.Path, export.Kind, export.Bytes, export.Kept));
        var source = Assert.Single(storage.Sources!);
        Assert.Equal(new FileInfo(Path.Combine(dir, ModelFiles.WeightsFile)).Length, source.Bytes);
        Assert.Equal((double)export.Bytes / source.Bytes, storage.SavingRatio()!.Value, 12);
        Assert.Contains("storage: ", text);
        Assert.Contains("source)", text);
        Assert.False(File.Exists(Path.Combine(outDir, "ledger.json")));
    }
}
