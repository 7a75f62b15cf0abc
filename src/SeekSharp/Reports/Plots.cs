// Design: reports need a few PNG line charts (loss vs step, validation loss, reward curves); we use
// ScottPlot 5 (SkiaSharp underneath, with the Linux no-dependencies native assets so it renders
// headless) rather than a hand-rolled rasterizer: real fonts, tick placement and legends for free.
// Charts are rendered to bytes and written with AtomicFile, so a report never holds half a PNG.
// Non-finite points (a diverged loss is NaN or Infinity) are dropped, since they would break the
// axis limits, and the chart says how many were dropped so the divergence is still visible.

using SeekSharp.IO;

namespace SeekSharp.Reports;

/// <summary>PNG charts for run reports.</summary>
public static class Plots
{
    /// <summary>Default chart size in pixels.</summary>
    public const int Width = 800, Height = 500;

    /// <summary>
    /// Writes a PNG line chart with one line per series (a legend appears when there is more than one
    /// or a series is named). Non-finite points are skipped and counted in the title.
    /// </summary>
    public static void LineChart(string path, string title, string xLabel, string yLabel,
        IReadOnlyList<(string Name, IReadOnlyList<(double X, double Y)> Points)> series)
    {
        ArgumentNullException.ThrowIfNull(series);
        if (series.Count == 0) throw new ArgumentException("a chart needs at least one series", nameof(series));

        var plot = new ScottPlot.Plot();
        var dropped = 0;
        var named = false;
        foreach (var (name, points) in series)
        {
            var finite = points.Where(p => double.IsFinite(p.X) && double.IsFinite(p.Y)).ToArray();
            dropped += points.Count - finite.Length;
            if (finite.Length == 0) continue;
            var line = plot.Add.ScatterLine(finite.Select(p => p.X).ToArray(), finite.Select(p => p.Y).ToArray());
            line.LineWidth = 2;
            // A lone point would be invisible as a line.
            line.MarkerSize = finite.Length == 1 ? 6 : 0;
            if (!string.IsNullOrEmpty(name)) { line.LegendText = name; named = true; }
        }
        plot.Title(dropped > 0 ? $"{title} ({dropped} non-finite points omitted)" : title);
        plot.XLabel(xLabel);
        plot.YLabel(yLabel);
        if (named) plot.ShowLegend(ScottPlot.Alignment.UpperRight);
        else plot.HideLegend();

        var png = plot.GetImageBytes(Width, Height, ScottPlot.ImageFormat.Png);
        AtomicFile.WriteAllBytes(path, png);
    }
}
