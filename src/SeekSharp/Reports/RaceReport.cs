using System.Globalization;
using System.Text;
using SeekSharp.IO;
using SeekSharp.Training;

namespace SeekSharp.Reports;

// race.md and race.png of `seek bench race`. The table's cells are made here once, for race.md and for the
// CLI's Spectre table alike, so the two never disagree. Memory: the models share one process, so its peak
// RSS is one figure for the race; what tells the models apart is each one's training state (fp32 weights,
// gradients, AdamW moments), printed per row.

/// <summary>Writes the race's report and plot, and tables its result.</summary>
public static class RaceReport
{
    public const string MarkdownFile = "race.md", PlotFile = "race.png";

    /// <summary>Column headers of the race table ("s to target": own step seconds to the first model's final val loss;
    /// "state": weights, gradients and AdamW moments).</summary>
    public static readonly string[] Columns =
        ["preset", "params/active", "steps", "tokens", "tok/s", "val loss", "s to target", "ratio", "state"];

    /// <summary>One row of cells per model, in race order.</summary>
    public static IEnumerable<string[]> Rows(RaceResult r) => r.Entries.Select(e => new[]
    {
        e.Preset, $"{Millions(e.TotalParams)}/{Millions(e.ActiveParams)}", $"{e.Steps}", $"{e.Tokens:N0}", $"{e.TokensPerSecond:N0}",
        $"{e.FinalValLoss:F3}", e.ReachSeconds is { } s ? $"{s:F0}" : "not reached", e.Ratio is { } x ? $"{x:F2}x" : "-", Megabytes(e.StateBytes),
    });

    /// <summary>The lines under the table: the target loss, what the seconds are, and memory.</summary>
    public static IEnumerable<string> Notes(RaceResult r)
    {
        var first = r.Entries[0];
        yield return string.Create(CultureInfo.InvariantCulture,
            $"Target: {first.Preset}'s final val loss {r.TargetLoss:F3}; \"s to target\" is each model's own step time (evaluation excluded) to reach it, "
            + $"budget {r.Minutes:G4} min each; batch {r.BatchSize} x {r.SeqLen} tokens, the same batches for every model.");
        yield return $"Peak RSS of the race process: {r.PeakRssBytes / 1e9:F2} GB, all models together (one process: RSS cannot be split per model); "
            + "\"state\" is each model's own fp32 weights, gradients and AdamW moments.";
    }

    /// <summary>Writes race.md and race.png into the race's folder and adds them to its ledger.json; returns race.md's path.</summary>
    public static string Write(RaceResult r)
    {
        var first = r.Entries[0].Preset;
        var series = r.Entries.Select(e => (e.Preset, (IReadOnlyList<(double X, double Y)>)e.Curve.Select(p => (p.Seconds, p.ValLoss)).ToList())).ToList();
        double end = r.Entries.Max(e => e.Seconds);
        series.Add(($"{first}'s final", [(0, r.TargetLoss), (end, r.TargetLoss)]));
        Plots.LineChart(Path.Combine(r.OutDir, PlotFile), "validation loss against training time", "seconds of the model's own steps", "val loss (nats)", series);

        var md = new StringBuilder();
        md.AppendLine("# Race").AppendLine();
        if (r.CommandLine.Length > 0) md.AppendLine("```").AppendLine(r.CommandLine).AppendLine("```").AppendLine();
        var cols = Columns;
        md.AppendLine("| " + string.Join(" | ", cols) + " |");
        md.AppendLine("|" + string.Concat(cols.Select(_ => "---|")));
        foreach (var row in Rows(r)) md.AppendLine("| " + string.Join(" | ", row) + " |");
        md.AppendLine();
        foreach (var note in Notes(r)) md.AppendLine(note).AppendLine();
        md.AppendLine($"![val loss against seconds]({PlotFile})").AppendLine();
        RunReport.CostSection(md, r.Ledger);
        var path = Path.Combine(r.OutDir, MarkdownFile);
        AtomicFile.WriteAllText(path, md.ToString());
        RunReport.RecordReport(r.OutDir, path, PlotFile);
        return path;
    }

    static string Millions(long n) => (n / 1e6).ToString("F1", CultureInfo.InvariantCulture) + "M";
    static string Megabytes(long n) => (n / 1e6).ToString("F0", CultureInfo.InvariantCulture) + " MB";
}
