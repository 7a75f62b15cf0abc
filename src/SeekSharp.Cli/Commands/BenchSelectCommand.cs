using System.CommandLine;
using SeekSharp.Modeling;
using SeekSharp.Reports;
using SeekSharp.Selection;
using SeekSharp.Training;
using Spectre.Console;

namespace SeekSharp.Cli.Commands;

/// <summary>`seek bench select`: random order against each selection method, tokens and wall time to the same target loss.</summary>
public static class BenchSelectCommand
{
    public static Command Create()
    {
        var pool = new Option<string>("--pool") { Description = "Token dataset every run trains on (its train split), e.g. a mix from `seek data prepare`.", Required = true };
        var target = new Option<string>("--target") { Description = "Token dataset of the target distribution, same tokenizer: val measures every run, train trains the reference.", Required = true };
        var output = Options.Out("Bench folder: pool/, reference/, baseline/, select-*/, run-*/, bench.md, bench.json, curves.png.", required: false);
        output.DefaultValueFactory = _ => "bench-select";
        var preset = new Option<string>("--preset") { Description = $"Model preset of every run: {string.Join(", ", Presets.Names)}.", DefaultValueFactory = _ => "tiny" };
        var steps = new Option<int>("--steps") { Description = "Steps of the baseline and of each selected run.", DefaultValueFactory = _ => 300 };
        var refSteps = new Option<int>("--reference-steps") { Description = "Steps of the reference model on the target's train split.", DefaultValueFactory = _ => 200 };
        var proxySteps = new Option<int>("--proxy-steps") { Description = "The baseline's checkpoint that scores the pool for offline selection.", DefaultValueFactory = _ => 50 };
        var keep = new Option<double>("--keep-fraction") { Description = "Fraction of the pool's documents offline selection keeps.", DefaultValueFactory = _ => 0.5 };
        var ratio = new Option<int>("--select-ratio") { Description = "Online selection: candidates per trained window.", DefaultValueFactory = _ => 2 };
        var methods = new Option<string>("--methods") { Description = "Comma-separated: loss, excess-loss, entropy (offline), online.", DefaultValueFactory = _ => "loss,excess-loss,entropy,online" };
        var batch = new Option<int>("--batch-size") { Description = "Sequences per step.", DefaultValueFactory = _ => 16 };
        var seqLen = new Option<int>("--seq-len") { Description = "Tokens per sequence (0 = the preset's context).", DefaultValueFactory = _ => 0 };
        var lr = new Option<double>("--lr") { Description = "Peak learning rate.", DefaultValueFactory = _ => 3e-3 };
        var warmup = new Option<int>("--warmup") { Description = "Warmup steps.", DefaultValueFactory = _ => 20 };
        var evalEvery = new Option<int>("--eval-every") { Description = "Validate on the target every N steps.", DefaultValueFactory = _ => 10 };
        var evalBatches = new Option<int>("--eval-batches") { Description = "Validation batches per evaluation (the same ones each time).", DefaultValueFactory = _ => 8 };
        var precision = new Option<string>("--precision") { Description = "bf16 or fp32.", DefaultValueFactory = _ => "bf16" };
        precision.AcceptOnlyFromAmong("bf16", "fp32");
        var seed = new Option<int>("--seed") { Description = "Seed of every run.", DefaultValueFactory = _ => 1337 };
        var device = Options.Device();
        var hardware = Options.Hardware();
        var cmd = new Command("select", "Train in random order and with each selection method; tokens and wall time each needs to reach the baseline's target loss.")
            { pool, target, output, preset, steps, refSteps, proxySteps, keep, ratio, methods, batch, seqLen, lr, warmup, evalEvery, evalBatches, precision, seed, device, hardware };
        cmd.SetAction(p => SeekApp.Guard(() =>
        {
            var o = new SelectBenchOptions
            {
                PoolDir = p.GetValue(pool)!, TargetDir = p.GetValue(target)!, OutDir = p.GetValue(output)!, Model = Presets.Get(p.GetValue(preset)!),
                Train = new TrainConfig
                {
                    Steps = p.GetValue(steps), BatchSize = p.GetValue(batch), SeqLen = p.GetValue(seqLen), LearningRate = p.GetValue(lr),
                    WarmupSteps = p.GetValue(warmup), EvalEvery = p.GetValue(evalEvery), EvalBatches = p.GetValue(evalBatches), CheckpointEvery = 0,
                    Precision = p.GetValue(precision)!, Seed = p.GetValue(seed), Device = p.GetValue(device)!,
                },
                ReferenceSteps = p.GetValue(refSteps), ProxySteps = p.GetValue(proxySteps), KeepFraction = p.GetValue(keep), SelectRatio = p.GetValue(ratio),
                Methods = p.GetValue(methods)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries), HardwareProfilePath = p.GetValue(hardware),
            };
            var line = "seek " + string.Join(' ', p.Tokens.Select(t => t.Value.Contains(' ') ? $"\"{t.Value}\"" : t.Value));
            var r = new TrainingProgress().Run("bench select", obs => SelectBench.Run(o, obs));
            var md = SelectBenchReport.Write(r, line);
            AnsiConsole.MarkupLineInterpolated($"target: validation loss {r.TargetLoss:F4} on the target's held-out split (the baseline's final)");
            var t = new Table().AddColumns(SelectBenchReport.Columns);
            foreach (var row in SelectBenchReport.Rows(r)) t.AddRow(row.Select(Markup.Escape).ToArray());
            AnsiConsole.Write(t);
            foreach (var row in r.Rows.Where(x => x.Prep.Length > 0)) AnsiConsole.MarkupLineInterpolated($"[grey]{row.Method}: prep = {row.Prep}[/]");
            AnsiConsole.MarkupLineInterpolated($"bench folder: [bold]{r.OutDir}[/] ({Path.GetFileName(md)}, bench.json, {SelectBenchReport.PlotFile}, a run folder per method)");
            return 0;
        }));
        return cmd;
    }
}
