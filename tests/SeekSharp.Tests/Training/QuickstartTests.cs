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
    }
}
