using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using SeekSharp.IO;
using SeekSharp.Ledger;
using SeekSharp.Modeling;

namespace SeekSharp.Reports;

// The human side of a run folder: report.md with the model's own cost, the final losses, expert load
// balance and the ledger, plus loss.png (train and validation loss by step) and, for MoE models,
// expert_load.png (max/mean expert load by step). Built from metrics.jsonl, config.json and
// ledger.json alone, so it can be regenerated for any run folder.

/// <summary>Writes report.md and its plots for a run folder.</summary>
public static class RunReport
{
    public static string Write(string runDir, string title, IReadOnlyList<(string Prompt, string Completion)>? samples = null)
    {
        var records = MetricsLog.Read(Path.Combine(runDir, MetricsLog.FileName));
        var cfg = ModelConfig.Load(Path.Combine(runDir, "config.json"));
        var ledgerPath = Path.Combine(runDir, "ledger.json");
        var ledger = File.Exists(ledgerPath) ? LedgerEntry.Read(ledgerPath) : null;

        var train = Series(records, "loss");
        var val = Series(records, "val_loss");
        var lossSeries = new List<(string, IReadOnlyList<(double, double)>)> { ("train", train) };
        if (val.Count > 0) lossSeries.Add(("validation", val));
        if (train.Count > 0) Plots.LineChart(Path.Combine(runDir, "loss.png"), $"{title}: loss", "step", "cross-entropy (nats)", lossSeries);

        var imbalance = records.Where(r => r["expert_imbalance"] is JsonObject)
            .Select(r => (Step: Num(r["step"]), Max: ((JsonObject)r["expert_imbalance"]!).Select(kv => Num(kv.Value)).Max()))
            .Select(p => (p.Step, p.Max)).ToList();
        if (imbalance.Count > 0)
            Plots.LineChart(Path.Combine(runDir, "expert_load.png"), $"{title}: expert load balance", "step", "max/mean expert load (worst layer)",
                [("worst layer", imbalance)]);

        var md = new StringBuilder();
        md.AppendLine($"# {title}").AppendLine();
        ModelSection(md, cfg);
        if (train.Count > 0)
        {
            var last = records[^1];
            md.AppendLine($"Steps: {train[^1].X:F0}. Final train loss {train[^1].Y:F3}" + (val.Count > 0 ? $", validation loss {val[^1].Y:F3}" : "") +
                          $". Throughput at the end: {Num(last["tokens_per_second"]):N0} tokens/s.").AppendLine();
            md.AppendLine("![loss](loss.png)").AppendLine();
        }
        if (imbalance.Count > 0)
            md.AppendLine($"Expert load, max/mean in the worst layer: {imbalance[0].Max:F2} at step {imbalance[0].Step:F0}, {imbalance[^1].Max:F2} at the end (1.00 is perfectly balanced).").AppendLine()
              .AppendLine("![expert load](expert_load.png)").AppendLine();
        if (ledger is not null) CostSection(md, ledger);
        if (samples is { Count: > 0 })
        {
            md.AppendLine("## Samples").AppendLine();
            foreach (var (p, c) in samples) md.AppendLine("```").AppendLine(p + c).AppendLine("```").AppendLine();
        }
        var path = Path.Combine(runDir, "report.md");
        AtomicFile.WriteAllText(path, md.ToString());
        RecordReport(runDir, path, "loss.png", "expert_load.png");
        return path;
    }

    /// <summary>Adds a report and its plots (file names in <paramref name="runDir"/>) to the run's ledger.json, where there is
    /// one: they are written after it, so the storage line of the report itself does not count them.</summary>
    public static void RecordReport(string runDir, string reportPath, params IEnumerable<string> plots)
    {
        var ledgerPath = Path.Combine(runDir, "ledger.json");
        if (!File.Exists(ledgerPath)) return;
        LedgerEntry.RecordStorage(ledgerPath, [(reportPath, StorageKind.Report), .. plots.Select(p => (Path.Combine(runDir, p), StorageKind.Report))]);
    }

    /// <summary>The preset line and the model's own cost (parameters, FLOPs, KV bytes).</summary>
    public static void ModelSection(StringBuilder md, ModelConfig cfg)
    {
        var cost = ModelCost.Of(cfg);
        md.AppendLine($"Preset `{cfg.Preset ?? "custom"}`: {cfg.NumHiddenLayers} layers, width {cfg.HiddenSize}, {cfg.AttentionType.ToUpperInvariant()} attention, " +
                      (cfg.NRoutedExperts > 0 ? $"MoE {cfg.NSharedExperts} shared + top-{cfg.NumExpertsPerTok} of {cfg.NRoutedExperts} routed experts." : "dense SwiGLU.")).AppendLine();
        md.AppendLine("| parameters (total) | parameters (active) | training GFLOP/token | KV cache bytes/token (bf16) |");
        md.AppendLine("|---|---|---|---|");
        md.AppendLine($"| {cost.TotalParams:N0} | {cost.ActiveParams:N0} | {cost.TrainingFlopsPerToken / 1e9:F3} | {cost.KvCacheBytesPerToken:N0} |").AppendLine();
    }

    /// <summary>The ledger as a "## Cost" table.</summary>
    public static void CostSection(StringBuilder md, LedgerEntry ledger)
    {
        md.AppendLine("## Cost").AppendLine();
        md.AppendLine("| wall | CPU seconds | tokens | model FLOPs | energy (kWh) | method | CO2 (g) | USD |");
        md.AppendLine("|---|---|---|---|---|---|---|---|");
        md.AppendLine(CostRow(ledger));
        md.AppendLine().AppendLine($"Priced with hardware profile \"{ledger.Hardware.Name}\" (edit it with `--hardware FILE`).").AppendLine();
        if (ledger.Storage is { } s) md.AppendLine(StorageLine(s)).AppendLine();
        ResourcesSection(md, ledger.Resources);
    }

    /// <summary>The eight resources as a "### Resources" table: every quantity, how it was obtained, what it cost.</summary>
    public static void ResourcesSection(StringBuilder md, IReadOnlyList<ResourceLine> lines)
    {
        md.AppendLine("### Resources").AppendLine();
        md.AppendLine("| resource | quantity | figure | USD |").AppendLine("|---|---|---|---|");
        foreach (var l in lines)
        {
            var figure = CompareReport.Format(l with { Usd = null });
            var usd = l.Usd is double d ? d.ToString("0.####", CultureInfo.InvariantCulture) : "-";
            md.AppendLine($"| {l.Resource} | {l.Quantity} | {figure} | {usd} |");
        }
        var shares = LedgerResources.Shares(lines);
        if (shares.Count > 0)
            md.AppendLine().AppendLine(string.Create(CultureInfo.InvariantCulture, $"Money by resource: {string.Join(", ", shares.Select(x => $"{x.Resource} ({x.Quantity}) {x.Share:P0}"))}."));
        md.AppendLine().AppendLine("`seek report compare RUN...` puts runs side by side on these.").AppendLine();
    }

    /// <summary>One line: each resource's headline figure ("compute 1.2E+14 FLOP (estimated) · data ...").</summary>
    public static string ResourcesLine(IReadOnlyList<ResourceLine> lines) =>
        string.Join(" · ", LedgerResources.Headlines(lines).Select(l => $"{l.Resource} {CompareReport.Format(l with { Usd = null })}"));

    /// <summary>"Storage: 1.2 MB weights, 3.4 MB checkpoints (1.1 MB kept), ...": what the run wrote, from the ledger's storage section.</summary>
    public static string StorageLine(LedgerStorage s) =>
        $"Storage: {s.Summary()} (bytes per artifact in ledger.json; this report and its plots are added to it after).";

    /// <summary>One ledger as the cells of the cost table: "| wall | CPU s | tokens | FLOPs | kWh | method | CO2 | USD |".</summary>
    public static string CostRow(LedgerEntry l) => string.Create(CultureInfo.InvariantCulture,
        $"| {TimeSpan.FromSeconds(l.WallSeconds):hh\\:mm\\:ss} | {l.CpuSeconds:F0} | {l.Tokens:N0} | {l.ModelFlops:E2} | {l.EnergyKwh:F4} | {l.EnergyMethod} | {l.Co2Grams:F1} | {l.Usd:F4} |");

    /// <summary>(step, value) of every record that has <paramref name="key"/>.</summary>
    public static List<(double X, double Y)> Series(IReadOnlyList<JsonObject> records, string key) =>
        records.Where(r => r[key] is JsonValue).Select(r => (Num(r["step"]), Num(r[key]))).ToList();

    /// <summary>A number of a metrics record; NaN when absent or not a number (MetricsLog writes NaN/Infinity as strings).</summary>
    public static double Num(JsonNode? n) => n is JsonValue v && v.TryGetValue<double>(out var d) ? d
        : n is JsonValue s && s.TryGetValue<string>(out var text) && double.TryParse(text, System.Globalization.CultureInfo.InvariantCulture, out var parsed) ? parsed
        : double.NaN;
}
