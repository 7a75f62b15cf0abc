using SeekSharp.Reasoning;
using SeekSharp.Recipes;

namespace SeekSharp.Tests.Recipes;

public class R1RecipeTests : TempDirTest
{
    [Fact]
    public void The_recipe_chains_every_stage_into_one_report_and_reuses_finished_stages()
    {
        var outDir = NewDir();
        var o = new R1Options
        {
            OutDir = outDir, Preset = "tiny", Documents = 300, Vocab = 300, PretrainSteps = 2, BatchSize = 4, Precision = "fp32",
            ColdStartExamples = 8, ColdStartSteps = 2, MinutesRl = 0, MinutesRl2 = 0, SamplePrompts = 2, SampleK = 2, RsSftSteps = 1,
            EvalCount = 2, Eval = new EvalOptions(Samples: 2, K: 2, MaxTokens: 8),
            Grpo = new GrpoConfig { GroupSize = 2, PromptsPerStep = 2, MaxTokens = 8, EvalEvery = 1, EvalCount = 2, Train = GrpoConfig.DefaultTrain with { Steps = 1 } },
        };
        var r = R1Recipe.Run(o);
        Assert.Equal(["pretraining", "cold-start SFT", "GRPO round 1", "rejection sampling", "GRPO round 2"],
            r.Stages.Select(s => s.Name).Where(n => n != "rejection-sampling SFT"));
        foreach (var f in new[] { "pretrain/model.safetensors", "sft-cold/model.safetensors", "sft-cold/train_prompts.jsonl", "rl1/model.safetensors",
                     "rl1/report.md", "samples.jsonl", "rl2/model.safetensors", "report.md", "ledger.json", "reward.png", "accuracy.png", "length.png" })
            Assert.True(File.Exists(Path.Combine(outDir, f)), f);
        var report = File.ReadAllText(r.ReportPath);
        foreach (var s in new[] { "| cold-start SFT |", "| GRPO round 1 |", "GRPO round 1 changed held-out pass@1", "## Cost by stage", "**total**", "![reward.png](reward.png)" })
            Assert.Contains(s, report);
        // The total ledger holds every stage's artifacts under its folder, and the recipe's own report and charts.
        var storage = SeekSharp.Ledger.LedgerEntry.Read(Path.Combine(outDir, "pretrain", "ledger.json")).Storage!;
        Assert.Contains(storage.Artifacts, a => a.Path == "../data" && a.Kind == "data");
        var total = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(outDir, "ledger.json")))!["storage"]!["artifacts"]!.AsArray()
            .ToDictionary(a => (string)a!["path"]!, a => ((string)a!["kind"]!, (long)a["bytes"]!));
        foreach (var stage in new[] { "pretrain", "sft-cold", "rl1", "rl2" })
            Assert.Equal(("weights", new FileInfo(Path.Combine(outDir, stage, "model.safetensors")).Length), total[$"{stage}/model.safetensors"]);
        Assert.Equal(("data", new FileInfo(Path.Combine(outDir, "samples.jsonl")).Length), total["samples.jsonl"]);
        Assert.Equal("report", total["sft-cold/eval.json"].Item1);
        Assert.Equal(("report", new FileInfo(Path.Combine(outDir, "reward.png")).Length), total["reward.png"]);
        Assert.Contains("pretrain/../data", total.Keys);
        Assert.Contains("Storage: ", report);

        // Time: every stage's wall time and the critical path, in the ledger and the report, beside all eight resources per stage.
        var ledger = SeekSharp.Ledger.LedgerTotal.Read(Path.Combine(outDir, "ledger.json"));
        var names = ledger.StageNames!;
        Assert.Equal(ledger.Stages.Count, names.Count);
        var cp = ledger.CriticalPath!;
        Assert.Equal(["pretraining", "cold-start SFT", "GRPO round 1", "rejection sampling"], cp.Stages.Take(4));
        Assert.DoesNotContain("cold-start SFT: evaluation", cp.Stages);   // nothing needs an evaluation but the last
        Assert.EndsWith(": evaluation", cp.Stages[^1]);
        Assert.Equal(cp.Stages.Sum(n => ledger.Stages[names.ToList().IndexOf(n)].WallSeconds), cp.WallSeconds, 9);
        Assert.True(cp.WallSeconds < ledger.WallSeconds);
        Assert.Equal(cp.WallSeconds, ledger.Resources.Single(l => l.Quantity == "critical path seconds").Value);
        Assert.Contains("## Resources by stage", report);
        Assert.Contains("| stage | compute | data | people | storage | network | time | money | energy |", report);
        foreach (var n in names) Assert.Contains($"| {n} | ", report);
        Assert.Contains("Critical path (each stage needs the one before it): pretraining → cold-start SFT → GRPO round 1", report);

        // The cold-start problems are in the lineage every later stage carries.
        Assert.Equal(8, File.ReadAllLines(Path.Combine(outDir, "sft-cold", TrainingPrompts.FileName)).Length);
        Assert.True(File.ReadAllLines(Path.Combine(outDir, "rl1", TrainingPrompts.FileName)).Length > 8);

        var again = R1Recipe.Run(o);
        Assert.Equal("reused", again.Stages[0].Note);
        Assert.Equal(r.Stages[1].Eval!.PassAt1, again.Stages[1].Eval!.PassAt1);

        // Rerunning into the same folder with a setting a finished stage was made without is refused, by name, and keeps the stage.
        var coldModel = Path.Combine(outDir, "sft-cold", "model.safetensors");
        var before = File.GetLastWriteTimeUtc(coldModel);
        var e = Assert.Throws<SeekSharpException>(() => R1Recipe.Run(o with { ColdStartSteps = 3 }));
        Assert.Contains(Path.Combine(outDir, "sft-cold"), e.Message);
        Assert.Contains("sft.train.steps: was 2, now 3", e.Message);
        Assert.Equal(before, File.GetLastWriteTimeUtc(coldModel));
        var pretrain = Assert.Throws<SeekSharpException>(() => R1Recipe.Run(o with { PretrainSteps = 3 }));
        Assert.Contains("train.steps: was 2, now 3", pretrain.Message);

        // Other evaluation settings reuse the models but measure them again.
        var remeasured = R1Recipe.Run(o with { EvalCount = 3 });
        Assert.Equal("reused", remeasured.Stages[0].Note);
        Assert.All(remeasured.Stages.Where(s => s.Eval is not null), s => Assert.Equal(3, s.Eval!.Problems));
    }
}
