using System.CommandLine;
using SeekSharp.Ledger;
using SeekSharp.Reports;
using Spectre.Console;

namespace SeekSharp.Cli.Commands;

/// <summary>`seek report compare`: runs side by side on the eight resources.</summary>
public static class ReportCommand
{
    public static Command Create() => new("report", "Reports over finished runs.") { Compare() };

    static Command Compare()
    {
        var runs = new Argument<string[]>("RUN_OR_LEDGER") { Description = "Run folders (with ledger.json) or ledger files; the first is the reference.", Arity = ArgumentArity.OneOrMore };
        var output = new Option<string>("--out") { Description = "Folder for compare.md, compare.png, curves.png and compare.html.", DefaultValueFactory = _ => "compare" };
        var cmd = new Command("compare", "Compare runs of any kind on compute, data, people, storage, network, time, money and energy.") { runs, output };
        cmd.SetAction(p => SeekApp.Guard(() =>
        {
            var inputs = p.GetValue(runs)!.Select(CompareReport.Load).ToList();
            var o = CompareReport.Write(inputs, p.GetValue(output)!, "seek " + string.Join(' ', Environment.GetCommandLineArgs().Skip(1)));
            var table = new Table().AddColumn("resource");
            foreach (var r in inputs) table.AddColumn(Markup.Escape(r.Name));
            var heads = inputs.Select(r => LedgerResources.Headlines(r.Lines)).ToList();
            for (int j = 0; j < ResourceLine.Resources.Count; j++)
            {
                var line = heads[0][j];
                table.AddRow([Markup.Escape($"{line.Resource}: {line.Quantity}"), .. heads.Select(h =>
                    Markup.Escape(CompareReport.Format(h[j]) + (CompareReport.Ratio(h[j].Value, line.Value) is { } x && h != heads[0] ? $" {x:0.###}x" : "")))]);
            }
            AnsiConsole.Write(table);
            AnsiConsole.MarkupLineInterpolated($"wrote {o.Markdown}, {o.Html} (charts embedded), {o.BarChart}{(o.CurveChart is null ? "" : ", " + o.CurveChart)}");
            return 0;
        }));
        return cmd;
    }
}
