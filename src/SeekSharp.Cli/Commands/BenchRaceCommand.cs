using System.CommandLine;
using SeekSharp.Reports;
using SeekSharp.Training;
using Spectre.Console;

namespace SeekSharp.Cli.Commands;

/// <summary>`seek bench race`: presets trained side by side on the same batches, compared on loss against their own seconds.</summary>
public static class BenchRaceCommand
{
    public static Command Create()
    {
        var presets = new Option<string>("--presets") { Description = "Two or more presets separated by commas; the first is the reference (e.g. small-dense,small).", Required = true };
        var data = new Option<string>("--data") { Description = "Dataset folder (from `seek data prepare` or `seek data tokenize`).", Required = true };
        var minutes = new Option<double>("--minutes") { Description = "Minutes of its own step time each model gets (the race takes about this times the model count).", Required = true };
        var evalEvery = new Option<int>("--eval-every") { Description = "Validate each model every N of its steps (and before the first, after the last).", DefaultValueFactory = _ => 50 };
        var output = Options.Out("Folder for race.jsonl, race.md, race.png and ledger.json.", required: false);
        output.DefaultValueFactory = _ => "race";
        var batch = new Option<int>("--batch-size") { Description = "Sequences per step.", DefaultValueFactory = _ => 16 };
        var seqLen = new Option<int>("--seq-len") { Description = "Tokens per sequence (0 = the smallest context of the presets).", DefaultValueFactory = _ => 0 };
        var lr = new Option<double>("--lr") { Description = "Peak learning rate.", DefaultValueFactory = _ => 3e-3 };
        var warmup = new Option<int>("--warmup") { Description = "Warmup steps (the schedule's length is fixed after them).", DefaultValueFactory = _ => 20 };
        var precision = new Option<string>("--precision") { Description = "bf16 (fast path) or fp32.", DefaultValueFactory = _ => "bf16" };
        precision.AcceptOnlyFromAmong("bf16", "fp32");
        var seed = new Option<int>("--seed") { Description = "Seed for initialization and batches.", DefaultValueFactory = _ => 1337 };
        var device = Options.Device();
        var hardware = Options.Hardware();
        var cmd = new Command("race", "Train presets side by side on the same batches; time each needs to reach the first one's validation loss.")
            { presets, data, minutes, evalEvery, output, batch, seqLen, lr, warmup, precision, seed, device, hardware };
        cmd.SetAction(p => SeekApp.Guard(() =>
        {
            var models = Race.ParsePresets(p.GetValue(presets)!);
            var tc = new TrainConfig
            {
                BatchSize = p.GetValue(batch), SeqLen = p.GetValue(seqLen), LearningRate = p.GetValue(lr), WarmupSteps = p.GetValue(warmup),
                Precision = p.GetValue(precision)!, EvalEvery = p.GetValue(evalEvery), Seed = p.GetValue(seed), Device = p.GetValue(device)!,
            };
            var line = "seek " + string.Join(' ', p.Tokens.Select(t => t.Value.Contains(' ') ? $"\"{t.Value}\"" : t.Value));
            var o = new RaceOptions(models, p.GetValue(data)!, p.GetValue(output)!, p.GetValue(minutes), tc, p.GetValue(hardware), line);
            if (o.Minutes > 0)
                AnsiConsole.MarkupLineInterpolated($"[grey]{models.Count} models x {o.Minutes:G4} min of step time each: about {models.Count * o.Minutes:G4} min, plus evaluation[/]");
            var result = new TrainingProgress().Run("race", obs => Race.Run(o, obs));
            var md = RaceReport.Write(result);
            Print(result, md);
            return 0;
        }));
        return cmd;
    }

    static void Print(RaceResult r, string md)
    {
        var t = new Table().AddColumns(RaceReport.Columns);
        foreach (var row in RaceReport.Rows(r)) t.AddRow(row.Select(Markup.Escape).ToArray());
        AnsiConsole.Write(t);
        foreach (var note in RaceReport.Notes(r)) AnsiConsole.MarkupLineInterpolated($"[grey]{note}[/]");
        AnsiConsole.MarkupLineInterpolated($"race folder: [bold]{r.OutDir}[/] ({Race.LogFile}, {RaceReport.MarkdownFile}, {RaceReport.PlotFile}, ledger.json; {Path.GetFileName(md)} has the command line)");
    }
}
