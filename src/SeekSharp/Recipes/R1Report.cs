using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using SeekSharp.IO;
using SeekSharp.Ledger;
using SeekSharp.Modeling;
using SeekSharp.Reports;

namespace SeekSharp.Recipes;

// The r1 recipe's one report: held-out pass@1 after each stage, the gain GRPO made over the cold-start
// SFT model in its minutes of RL (the number the recipe exists to show), the RL curves of both rounds
// on one axis (reward, accuracy, completion length, KL/entropy), and every stage's ledger with the total.

/// <summary>Writes OUT/report.md and the RL charts for an r1 recipe run.</summary>
public static class R1Report
{
    public static string Write(R1Options o, IReadOnlyList<R1Stage> stages)
    {
        var md = new StringBuilder();
        var inv = CultureInfo.InvariantCulture;
        md.AppendLine($"# R1 recipe: {o.Task} on `{o.Preset}`").AppendLine();
        var modelDir = stages.LastOrDefault(s => File.Exists(Path.Combine(s.Dir, "config.json")))?.Dir;
        if (modelDir is not null) RunReport.ModelSection(md, ModelConfig.Load(Path.Combine(modelDir, "config.json")));

        var evaluated = stages.Where(s => s.Eval is not null).ToList();
        if (evaluated.Count > 0)
        {
            var e0 = evaluated[0].Eval!;
            md.AppendLine($"Held-out set: {e0.Problems} {o.Task} problems never trained on (checked against every stage's training prompts); " +
                          (e0.Temperature == 0 ? "greedy decoding." : $"{e0.Samples} samples per problem at temperature {e0.Temperature.ToString(inv)}, top-p {o.Eval.TopP.ToString(inv)}; pass@1 is the mean fraction correct.")).AppendLine();
        }
        md.AppendLine($"| stage | held-out pass@1 | pass@{o.Eval.K} | format | mean tokens | stage wall | stage kWh | stage USD | notes |");
        md.AppendLine("|---|---|---|---|---|---|---|---|---|");
        foreach (var s in stages)
        {
            var e = s.Eval;
            string Pct(double? x) => x is { } v ? v.ToString("P1", inv) : "-";
            md.AppendLine($"| {s.Name} | {Pct(e?.PassAt1)} | {Pct(e?.PassAtK)} | {Pct(e?.FormatRate)} | {(e is null ? "-" : e.MeanTokens.ToString("F1", inv))} | " +
                          $"{TimeSpan.FromSeconds(s.Ledger.WallSeconds):hh\\:mm\\:ss} | {s.Ledger.EnergyKwh.ToString("F4", inv)} | {s.Ledger.Usd.ToString("F4", inv)} | {s.Note} |");
        }
        md.AppendLine();
        var cold = stages.FirstOrDefault(s => s.Name == "cold-start SFT")?.Eval;
        var rl1 = stages.FirstOrDefault(s => s.Name == "GRPO round 1");
        if (cold is not null && rl1?.Eval is { } after)
            md.AppendLine($"**GRPO round 1 changed held-out pass@1 by {(after.PassAt1 - cold.PassAt1) * 100:+0.0;-0.0} points** " +
                          $"({cold.PassAt1:P1} → {after.PassAt1:P1}) in {rl1.Note}.").AppendLine();

        var rounds = new[] { ("round 1", "rl1"), ("round 2", "rl2") }
            .Select(r => (r.Item1, Path.Combine(o.OutDir, r.Item2, MetricsLog.FileName)))
            .Where(r => File.Exists(r.Item2))
            .Select(r => (r.Item1, (IReadOnlyList<JsonObject>)MetricsLog.Read(r.Item2))).ToList();
        if (rounds.Count > 0)
        {
            md.AppendLine("## GRPO curves").AppendLine();
            md.AppendLine("Rollout reward and accuracy per step, greedy held-out pass@1 every few steps, completion length, and KL / entropy / clip fraction; round 2 continues the x axis.").AppendLine();
            foreach (var chart in RlCharts.Write(o.OutDir, rounds, "r1")) md.AppendLine($"![{chart}]({chart})").AppendLine();
        }

        md.AppendLine("## Cost by stage").AppendLine();
        md.AppendLine("| stage | wall | CPU seconds | tokens | model FLOPs | energy (kWh) | method | CO2 (g) | USD |");
        md.AppendLine("|---|---|---|---|---|---|---|---|---|");
        var entries = new List<LedgerEntry>();
        var folders = new List<string>();
        var names = new List<string>();
        var jobs = new List<CriticalPath.Job>();
        int lastModel = -1;
        // Storage paths are relative to each ledger's folder: a model stage's folder, or the recipe's for the samples.
        string Folder(string dir)
        {
            var rel = Path.GetRelativePath(o.OutDir, Directory.Exists(dir) ? dir : Path.GetDirectoryName(Path.GetFullPath(dir))!);
            return rel == "." ? "" : rel.Replace(Path.DirectorySeparatorChar, '/');
        }
        // Each stage starts from the one before it (its model, or for rejection sampling the samples that decide whether the
        // next SFT runs); an evaluation needs its stage and nothing needs it.
        foreach (var s in stages)
        {
            md.AppendLine($"| {s.Name} {RunReport.CostRow(s.Ledger)}");
            entries.Add(s.Ledger);
            folders.Add(Folder(s.Dir));
            names.Add(s.Name);
            jobs.Add(new(s.Name, s.Ledger.WallSeconds, lastModel < 0 ? [] : [lastModel]));
            lastModel = jobs.Count - 1;
            if (s.EvalLedger is { } el)
            {
                md.AppendLine($"| {s.Name}: evaluation {RunReport.CostRow(el)}");
                entries.Add(el);
                folders.Add(Folder(s.Dir));
                names.Add($"{s.Name}: evaluation");
                jobs.Add(new(names[^1], el.WallSeconds, [lastModel]));
            }
        }
        var total = LedgerTotal.Sum("r1", entries, folders) with { StageNames = names, CriticalPath = CriticalPath.Of(jobs) };
        md.AppendLine(string.Create(inv, $"| **total** | {TimeSpan.FromSeconds(total.WallSeconds):hh\\:mm\\:ss} | {total.CpuSeconds:F0} | {total.Tokens:N0} | {total.ModelFlops:E2} | {total.EnergyKwh:F4} | {total.EnergyMethod} | {total.Co2Grams:F1} | {total.Usd:F4} |"));
        md.AppendLine();
        if (total.Storage is { } storage) md.AppendLine(RunReport.StorageLine(storage)).AppendLine();
        ResourcesByStage(md, names, entries, total);
        RunReport.ResourcesSection(md, total.Resources);
        var path = Path.Combine(o.OutDir, "report.md");
        AtomicFile.WriteAllText(path, md.ToString());
        // ledger.json last, with the report and its charts: a recipe folder with a ledger has its report.
        var recipeFiles = new[] { "report.md" }.Concat(Directory.GetFiles(o.OutDir, "*.png").Select(Path.GetFileName).Order(StringComparer.Ordinal))
            .Select(f => LedgerStorage.Measure(o.OutDir, Path.Combine(o.OutDir, f!), StorageKind.Report));
        total = total with { Storage = LedgerStorage.Of([.. total.Storage?.Artifacts ?? [], .. recipeFiles]) };
        total.Write(Path.Combine(o.OutDir, "ledger.json"));
        return path;
    }

    /// <summary>The eight resources' headline figures for each stage and the total, and the critical path.</summary>
    static void ResourcesByStage(StringBuilder md, IReadOnlyList<string> names, IReadOnlyList<LedgerEntry> entries, LedgerTotal total)
    {
        md.AppendLine("## Resources by stage").AppendLine();
        md.AppendLine($"| stage | {string.Join(" | ", ResourceLine.Resources)} |").AppendLine($"|---|{string.Concat(ResourceLine.Resources.Select(_ => "---|"))}");
        string Row(IReadOnlyList<ResourceLine> lines) => string.Join(" | ", LedgerResources.Headlines(lines).Select(l => CompareReport.Format(l with { Usd = null })));
        for (int i = 0; i < entries.Count; i++) md.AppendLine($"| {names[i]} | {Row(entries[i].Resources)} |");
        md.AppendLine($"| **total** | {Row(total.Resources)} |").AppendLine();
        if (total.CriticalPath is { } cp)
        {
            var inv = CultureInfo.InvariantCulture;
            md.AppendLine(string.Create(inv, $"Time: the stages ran one after another, {TimeSpan.FromSeconds(total.WallSeconds):hh\\:mm\\:ss} in all. ") +
                          string.Create(inv, $"Critical path (each stage needs the one before it): {string.Join(" → ", cp.Stages)}, ") +
                          string.Create(inv, $"{TimeSpan.FromSeconds(cp.WallSeconds):hh\\:mm\\:ss} ({cp.WallSeconds / Math.Max(total.WallSeconds, 1e-9):P1} of it); ") +
                          "the evaluations off it could have run beside the next stage.").AppendLine();
        }
    }
}
