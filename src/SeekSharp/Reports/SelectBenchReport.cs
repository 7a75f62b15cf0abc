using System.Globalization;
using System.Text;
using SeekSharp.IO;
using SeekSharp.Selection;

namespace SeekSharp.Reports;

// bench.md and curves.png of `seek bench select`: the table the command prints, the command line that made it,
// and each method's validation loss on the target against trained tokens, with the baseline's final loss as the
// line to reach.

public static class SelectBenchReport
{
    public const string MarkdownFile = "bench.md", PlotFile = "curves.png";
    public static readonly string[] Columns = ["method", "tokens to target", "x fewer tokens", "wall to target (s)", "of it: prep (s)", "x less wall", "final val loss", "USD"];

    public static IEnumerable<string[]> Rows(SelectBenchResult r)
    {
        var c = CultureInfo.InvariantCulture;
        foreach (var row in r.Rows)
            yield return
            [
                row.Method, row.TokensToTarget is { } t ? t.ToString("N0", c) : "not reached",
                row.TokenRatio is { } x ? Down(x) : "-", row.SecondsToTarget is { } s ? s.ToString("F0", c) : "-",
                row.PrepSeconds.ToString("F0", c), row.WallRatio is { } w ? Down(w) : "-",
                row.FinalValLoss.ToString("F4", c), row.Usd.ToString("F5", c),
            ];
    }

    /// <summary>A ratio to two decimals, rounded down: a saving is never shown larger than measured (25,600 / 15,360 is 1.66).</summary>
    public static string Down(double x) => (Math.Floor(x * 100) / 100).ToString("F2", CultureInfo.InvariantCulture);

    public static string Write(SelectBenchResult r, string commandLine)
    {
        Plots.LineChart(Path.Combine(r.OutDir, PlotFile), "validation loss on the target", "trained tokens", "cross-entropy (nats)",
            [.. r.Curves.Select(cv => (cv.Method, (IReadOnlyList<(double, double)>)cv.Points.Select(p => ((double)p.Tokens, p.ValLoss)).ToList()))]);
        var md = new StringBuilder();
        md.AppendLine("# Data selection: tokens and wall time to the random-order baseline's validation loss").AppendLine();
        md.AppendLine($"`{commandLine}`").AppendLine();
        md.AppendLine(string.Create(CultureInfo.InvariantCulture,
            $"Pool: {r.PoolDocuments:N0} training documents, {r.PoolTokens:N0} tokens. Target: {r.TargetTrainTokens:N0} tokens train the reference, {r.TargetValTokens:N0} held-out tokens measure every run. Target loss (baseline's final): {r.TargetLoss:F4}."))
          .AppendLine();
        md.AppendLine("| " + string.Join(" | ", Columns) + " |").AppendLine("|" + string.Concat(Enumerable.Repeat("---|", Columns.Length)));
        foreach (var row in Rows(r)) md.AppendLine("| " + string.Join(" | ", row) + " |");
        md.AppendLine();
        foreach (var row in r.Rows.Where(x => x.Prep.Length > 0)) md.AppendLine($"- {row.Method}: prep = {row.Prep}.");
        md.AppendLine().AppendLine($"![curves]({PlotFile})");
        var path = Path.Combine(r.OutDir, MarkdownFile);
        AtomicFile.WriteAllText(path, md.ToString());
        return path;
    }
}
