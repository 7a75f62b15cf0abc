// Design: `seek report compare` puts runs of any kind side by side on the eight resources (Ledger/LedgerResources),
// with ratios to the first. Inputs are run folders or ledger files, single runs or stage-summed recipe totals. The
// outputs are compare.md, two PNG charts and one HTML page that embeds the charts as data URIs, so the page renders
// from a file with no network. An unknown figure stays "unknown" (no ratio, no bar), never zero.

using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using SeekSharp.IO;
using SeekSharp.Ledger;

namespace SeekSharp.Reports;

/// <summary>One run to compare: its name, resources, and the curve its metrics.jsonl holds (loss, else reward).</summary>
public sealed record CompareInput(string Name, string LedgerPath, IReadOnlyList<ResourceLine> Lines, string? CurveKey,
    IReadOnlyList<(double X, double Y)> Curve);

/// <summary>What <see cref="CompareReport.Write"/> wrote.</summary>
public sealed record CompareOutput(string Markdown, string Html, string BarChart, string? CurveChart);

/// <summary>Side-by-side resource tables, charts and an HTML page for several runs.</summary>
public static class CompareReport
{
    /// <summary>Curves the page shows, in order of preference: a training loss, an RL reward.</summary>
    static readonly string[] CurveKeys = ["loss", "reward", "val_loss"];

    /// <summary>Loads a run folder (its ledger.json) or a ledger file; a recipe's total (with "stages") sums its stages.</summary>
    public static CompareInput Load(string runOrLedger)
    {
        var path = Directory.Exists(runOrLedger) ? Path.Combine(runOrLedger, "ledger.json") : runOrLedger;
        if (!File.Exists(path))
            throw new SeekSharpException(Directory.Exists(runOrLedger)
                ? $"{runOrLedger}: no ledger.json in this folder (expected a run folder or a ledger file)"
                : $"{runOrLedger}: not found (expected a run folder or a ledger file)");
        bool total;
        try { total = JsonNode.Parse(File.ReadAllText(path)) is JsonObject o && o.ContainsKey("stages"); }
        catch (System.Text.Json.JsonException e) { throw new SeekSharpException($"ledger '{path}': invalid JSON: {e.Message}", e); }
        var lines = total ? LedgerTotalResources.Of(LedgerTotal.Read(path)) : LedgerEntry.Read(path).Resources;
        var dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        var name = Path.GetFileName(path) == "ledger.json" ? Path.GetFileName(dir) : Path.GetFileNameWithoutExtension(path);
        var metrics = Path.Combine(dir, MetricsLog.FileName);
        if (!File.Exists(metrics)) return new CompareInput(name, path, lines, null, []);
        var records = MetricsLog.Read(metrics);
        foreach (var key in CurveKeys)
        {
            var s = RunReport.Series(records, key);
            if (s.Count > 0) return new CompareInput(name, path, lines, key, s);
        }
        return new CompareInput(name, path, lines, null, []);
    }

    /// <summary>Ratio of <paramref name="v"/> to <paramref name="first"/>; null when either is unknown or the first is 0.</summary>
    public static double? Ratio(double? v, double? first) => v is { } a && first is { } b && b != 0 ? a / b : null;

    /// <summary>Writes compare.md, compare.png (ratios of each resource's headline figure), curves.png and compare.html.</summary>
    public static CompareOutput Write(IReadOnlyList<CompareInput> runs, string outDir, string commandLine)
    {
        if (runs.Count == 0) throw new ArgumentException("nothing to compare", nameof(runs));
        Directory.CreateDirectory(outDir);
        var bars = Path.Combine(outDir, "compare.png");
        BarChart(bars, runs);
        string? curves = null;
        var withCurves = runs.Where(r => r.Curve.Count > 0).ToList();
        if (withCurves.Count > 0)
        {
            curves = Path.Combine(outDir, "curves.png");
            Plots.LineChart(curves, "curves (each run's metrics.jsonl)", "step", string.Join(" / ", withCurves.Select(r => r.CurveKey).Distinct()),
                [.. withCurves.Select(r => ($"{r.Name} ({r.CurveKey})", r.Curve))]);
        }
        var md = Markdown(runs, commandLine, curves is not null);
        var mdPath = Path.Combine(outDir, "compare.md");
        AtomicFile.WriteAllText(mdPath, md);
        var htmlPath = Path.Combine(outDir, "compare.html");
        AtomicFile.WriteAllText(htmlPath, Html(runs, commandLine, bars, curves));
        return new CompareOutput(mdPath, htmlPath, bars, curves);
    }

    /// <summary>Every quantity: one row each, a column per run with its value and its ratio to the first run.</summary>
    public static IEnumerable<(ResourceLine Line, IReadOnlyList<(string Value, string Ratio)> Cells)> Rows(IReadOnlyList<CompareInput> runs)
    {
        foreach (var line in runs[0].Lines)
        {
            var cells = runs.Select(r => r.Lines.FirstOrDefault(l => l.Resource == line.Resource && l.Quantity == line.Quantity))
                .Select(l => (Format(l), Ratio(l?.Value, line.Value) is { } x ? string.Create(CultureInfo.InvariantCulture, $"{x:0.###}x") : "-"))
                .ToList();
            yield return (line, cells);
        }
    }

    /// <summary>"1.23E+12 FLOP (estimated)", "unknown"; dollars appended where the quantity is priced.</summary>
    public static string Format(ResourceLine? l)
    {
        if (l?.Value is not { } v) return "unknown";
        var c = CultureInfo.InvariantCulture;
        var value = l.Unit switch
        {
            "FLOP" => v.ToString("E2", c),
            "B" => LedgerStorage.Bytes((long)v),
            "USD" => "$" + v.ToString(v < 1 ? "0.####" : "N2", c),
            _ => v >= 1e6 ? v.ToString("E2", c) : v >= 100 ? v.ToString("N0", c) : v == 0 || Math.Abs(v) >= 0.01 ? v.ToString("0.###", c) : v.ToString("G3", c),
        };
        var unit = l.Unit is "B" or "USD" ? "" : " " + l.Unit;
        var usd = l.Usd is { } d && l.Resource != "money" ? string.Create(c, $", ${d:0.####}") : "";
        return $"{value}{unit} ({l.Method}{usd})";
    }

    static string Markdown(IReadOnlyList<CompareInput> runs, string commandLine, bool curves)
    {
        var md = new StringBuilder();
        md.AppendLine("# Compare").AppendLine().AppendLine("```").AppendLine(commandLine).AppendLine("```").AppendLine();
        md.AppendLine($"| resource | quantity | {string.Join(" | ", runs.Select(r => $"{r.Name} | ratio"))} |");
        md.AppendLine($"|---|---|{string.Concat(runs.Select(_ => "---|---|"))}");
        foreach (var (line, cells) in Rows(runs))
            md.AppendLine($"| {line.Resource} | {line.Quantity} | {string.Join(" | ", cells.Select(c => $"{c.Value} | {c.Ratio}"))} |");
        md.AppendLine().AppendLine("Ratios are to the first run. \"measured\": read from the machine or disk; \"estimated\": from a model " +
            "(FLOPs from the architecture, energy from the power model when RAPL is unreadable); \"declared\": from the hardware profile; " +
            "\"unknown\": the ledger predates the resource (shown as unknown, not zero).").AppendLine();
        foreach (var r in runs)
        {
            var shares = LedgerResources.Shares(r.Lines);
            if (shares.Count > 0)
                md.AppendLine(string.Create(CultureInfo.InvariantCulture, $"Money of {r.Name}: {string.Join(", ", shares.Select(s => $"{s.Resource} ({s.Quantity}) {s.Share:P0}"))}.")).AppendLine();
        }
        md.AppendLine("![resources against the first run](compare.png)").AppendLine();
        if (curves) md.AppendLine("![curves](curves.png)").AppendLine();
        return md.ToString();
    }

    static string Html(IReadOnlyList<CompareInput> runs, string commandLine, string bars, string? curves)
    {
        static string E(string s) => WebUtility.HtmlEncode(s);
        static string Img(string path, string alt) => $"<img alt=\"{E(alt)}\" src=\"data:image/png;base64,{Convert.ToBase64String(File.ReadAllBytes(path))}\">";
        var h = new StringBuilder();
        h.Append("<!doctype html><html><head><meta charset=\"utf-8\"><title>SeekSharp: compare</title><style>")
         .Append("body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse}td,th{border:1px solid #ccc;")
         .Append("padding:.3em .6em;text-align:left}th{background:#f3f3f3}code{background:#f6f6f6;padding:.2em}img{max-width:100%}</style></head><body>")
         .Append("<h1>Compare</h1><p><code>").Append(E(commandLine)).Append("</code></p><table><tr><th>resource</th><th>quantity</th>");
        foreach (var r in runs) h.Append("<th>").Append(E(r.Name)).Append("</th><th>ratio</th>");
        h.Append("</tr>");
        foreach (var (line, cells) in Rows(runs))
        {
            h.Append("<tr><td>").Append(E(line.Resource)).Append("</td><td>").Append(E(line.Quantity)).Append("</td>");
            foreach (var (value, ratio) in cells) h.Append("<td>").Append(E(value)).Append("</td><td>").Append(E(ratio)).Append("</td>");
            h.Append("</tr>");
        }
        h.Append("</table><p>Ratios are to the first run; unknown figures have none.</p>").Append(Img(bars, "resources against the first run"));
        if (curves is not null) h.Append(Img(curves, "curves"));
        h.Append("</body></html>\n");
        return h.ToString();
    }

    /// <summary>Grouped bars: each resource's headline figure over the first run's (1.0 = the same).</summary>
    static void BarChart(string path, IReadOnlyList<CompareInput> runs)
    {
        var plot = new ScottPlot.Plot();
        var palette = new ScottPlot.Palettes.Category10();
        var heads = runs.Select(r => LedgerResources.Headlines(r.Lines)).ToList();
        double width = 0.8 / runs.Count;
        var ticks = new ScottPlot.TickGenerators.NumericManual();
        double lo = 0, hi = 0;
        for (int j = 0; j < ResourceLine.Resources.Count; j++)
        {
            ticks.AddMajor(j, ResourceLine.Resources[j]);
            for (int i = 0; i < runs.Count; i++)
            {
                if (Ratio(heads[i][j].Value, heads[0][j].Value) is not { } ratio) continue;
                // Ratios span orders of magnitude (kilobytes of a report against gigabytes of checkpoints): bars of log10.
                var v = ratio > 0 ? Math.Log10(ratio) : 0;
                (lo, hi) = (Math.Min(lo, v), Math.Max(hi, v));
                plot.Add.Bar(new ScottPlot.Bar
                {
                    Position = j - 0.4 + width * (i + 0.5), Value = v, Size = width * 0.9, FillColor = palette.GetColor(i),
                });
            }
        }
        for (int i = 0; i < runs.Count; i++)
            plot.Legend.ManualItems.Add(new ScottPlot.LegendItem { LabelText = runs[i].Name, FillColor = palette.GetColor(i) });
        plot.Axes.Bottom.TickGenerator = ticks;
        var yTicks = new ScottPlot.TickGenerators.NumericManual();
        for (int k = (int)Math.Floor(lo); k <= (int)Math.Ceiling(hi); k++)
            yTicks.AddMajor(k, k >= 0 ? $"{Math.Pow(10, k):0}x" : string.Create(CultureInfo.InvariantCulture, $"{Math.Pow(10, k):0.#########}x"));
        plot.Axes.Left.TickGenerator = yTicks;
        plot.Axes.SetLimitsY(Math.Floor(lo) - 0.1, Math.Ceiling(hi) + 0.1);
        plot.Title("each resource against the first run (headline figure; no bar: unknown or 1x)");
        plot.YLabel("ratio to the first run (log scale)");
        plot.ShowLegend(ScottPlot.Alignment.UpperRight);
        AtomicFile.WriteAllBytes(path, plot.GetImageBytes(Plots.Width, Plots.Height, ScottPlot.ImageFormat.Png));
    }
}
