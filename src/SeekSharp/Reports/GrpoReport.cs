using System.Text;
using System.Text.Json.Nodes;
using SeekSharp.IO;
using SeekSharp.Ledger;
using SeekSharp.Modeling;

namespace SeekSharp.Reports;

// report.md of a GRPO run, from its metrics.jsonl, config.json and ledger.json alone (so it can be
// regenerated): the reward curves (total and per reward function), accuracy (training rollouts and the
// periodic held-out pass@1), completion length, and KL / entropy / clip fraction, which are where reward
// hacking, collapse to short answers or a run drifting from its reference show first. The r1 recipe
// draws the same charts over several stages with RlCharts.

/// <summary>Writes report.md and PNG charts for a GRPO run folder.</summary>
public static class GrpoReport
{
    public static string Write(string runDir, string title)
    {
        var records = MetricsLog.Read(Path.Combine(runDir, MetricsLog.FileName));
        var cfg = ModelConfig.Load(Path.Combine(runDir, "config.json"));
        var ledgerPath = Path.Combine(runDir, "ledger.json");
        var ledger = File.Exists(ledgerPath) ? LedgerEntry.Read(ledgerPath) : null;

        var md = new StringBuilder();
        md.AppendLine($"# {title}").AppendLine();
        RunReport.ModelSection(md, cfg);
        var steps = records.Where(r => r["reward"] is JsonValue).ToList();
        if (steps.Count > 0)
        {
            var first = steps[0];
            var last = steps[^1];
            md.AppendLine($"Steps: {steps.Count}, {RunReport.Num(last["rl_seconds"]) / 60:F1} minutes of RL. " +
                          $"Mean reward {RunReport.Num(first["reward"]):F3} at step 1, {Tail(steps, "reward"):F3} over the last steps; " +
                          $"training accuracy {RunReport.Num(first["accuracy"]):P1} → {Tail(steps, "accuracy"):P1}; " +
                          $"zero-variance groups {steps.Sum(r => RunReport.Num(r["zero_variance_groups"])):F0} of {steps.Sum(r => RunReport.Num(r["groups"])):F0}.").AppendLine();
        }
        var held = RunReport.Series(records, "heldout_pass_at_1");
        if (held.Count > 0)
            md.AppendLine($"Held-out pass@1 (greedy): {held[0].Y:P1} at step {held[0].X:F0}, {held[^1].Y:P1} at step {held[^1].X:F0}.").AppendLine();
        var charts = RlCharts.Write(runDir, [("", records)], title);
        foreach (var chart in charts) md.AppendLine($"![{chart}]({chart})").AppendLine();
        if (ledger is not null) RunReport.CostSection(md, ledger);
        var path = Path.Combine(runDir, "report.md");
        AtomicFile.WriteAllText(path, md.ToString());
        RunReport.RecordReport(runDir, path, charts);
        return path;
    }

    static double Tail(List<JsonObject> steps, string key)
    {
        int n = Math.Max(1, Math.Min(10, steps.Count / 4));
        return steps.TakeLast(n).Select(r => RunReport.Num(r[key])).Average();
    }
}

/// <summary>The RL charts: reward, accuracy, completion length and KL/entropy, for one run or several stages in a row.</summary>
public static class RlCharts
{
    /// <param name="stages">(stage name, its metrics records); later stages continue the x axis where earlier ones ended.</param>
    /// <returns>The file names written into <paramref name="dir"/>.</returns>
    public static IReadOnlyList<string> Write(string dir, IReadOnlyList<(string Stage, IReadOnlyList<JsonObject> Records)> stages, string title)
    {
        var written = new List<string>();
        void Chart(string file, string what, string yLabel, params (string Key, string Label)[] keys)
        {
            var series = new List<(string, IReadOnlyList<(double, double)>)>();
            double offset = 0;
            foreach (var (stage, records) in stages)
            {
                foreach (var (key, label) in keys)
                {
                    var s = RunReport.Series(records, key).Select(p => (p.X + offset, p.Y)).ToList();
                    if (s.Count > 0) series.Add((string.Join(" ", new[] { stage, label }.Where(x => x.Length > 0)), s));
                }
                offset += records.Select(r => RunReport.Num(r["step"])).Where(double.IsFinite).DefaultIfEmpty(0).Max();
            }
            if (series.Count == 0) return;
            Plots.LineChart(Path.Combine(dir, file), $"{title}: {what}", "RL step", yLabel, series);
            written.Add(file);
        }
        Chart("reward.png", "reward", "mean reward", ("reward", "total"), ("reward/accuracy", "accuracy"), ("reward/format", "format"), ("reward/rm", "reward model"));
        Chart("accuracy.png", "accuracy", "fraction correct", ("accuracy", "training rollouts"), ("heldout_pass_at_1", "held-out pass@1"));
        Chart("length.png", "completion length", "tokens", ("completion_tokens", "training rollouts"), ("heldout_tokens", "held-out"));
        Chart("kl_entropy.png", "KL, entropy and clipping", "nats / fraction", ("kl", "KL to reference"), ("entropy", "entropy"), ("clip_fraction", "clip fraction"));
        return written;
    }
}
