using SeekSharp.Recipes;

namespace SeekSharp.Tests.Training;

public class QuickstartTests : TempDirTest
{
    [Fact]
    public void QuickstartRunsEndToEndAndWritesTheRunFolder()
    {
        var outDir = NewDir();
        var r = Quickstart.Run(new QuickstartOptions { OutDir = outDir, Documents = 400, Vocab = 300, Steps = 4, BatchSize = 4 });
        foreach (var f in new[] { "corpus/synthetic.jsonl", "tokenizer/tokenizer.json", "data/dataset.json", "run/model.safetensors",
                     "run/config.json", "run/metrics.jsonl", "run/ledger.json", "run/report.md", "run/loss.png", "run/tokenizer.json" })
            Assert.True(File.Exists(Path.Combine(outDir, f)), f);
        Assert.Equal(Quickstart.Prompts.Length, r.Samples.Count);
        Assert.Equal(4, r.Pretrain.Steps);
        Assert.True(r.Pretrain.Ledger.Usd > 0 && r.Pretrain.Ledger.EnergyKwh > 0);
        var report = File.ReadAllText(Path.Combine(outDir, "run", "report.md"));
        Assert.Contains("## Cost", report);
        Assert.Contains("![loss](loss.png)", report);
        Assert.Contains("Storage: ", report);
        // The run's ledger counts what the quickstart wrote beside the run too (corpus, tokenizer, shards), and the report.
        var storage = SeekSharp.Ledger.LedgerEntry.Read(Path.Combine(outDir, "run", "ledger.json")).Storage!;
        var byPath = storage.Artifacts.ToDictionary(a => a.Path);
        Assert.Equal(new FileInfo(Path.Combine(outDir, "run", "model.safetensors")).Length, byPath["model.safetensors"].Bytes);
        Assert.Equal(SeekSharp.Ledger.LedgerStorage.SizeOf(Path.Combine(outDir, "data")), byPath["../data"].Bytes);
        Assert.Equal("data", byPath["../corpus/synthetic.jsonl"].Kind);
        Assert.Equal(new FileInfo(Path.Combine(outDir, "run", "report.md")).Length, byPath["report.md"].Bytes);
        Assert.Equal(2, storage.Artifacts.Count(a => a.Kind == "checkpoint"));
    }
}
