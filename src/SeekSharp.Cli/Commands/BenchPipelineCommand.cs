using System.CommandLine;
using SeekSharp.Distributed.Pipeline;
using SeekSharp.Modeling;
using SeekSharp.Training;
using Spectre.Console;

namespace SeekSharp.Cli.Commands;

/// <summary>`seek bench pipeline`: the same short run on 1, 2, 4 ... pipeline stages (real stage processes).</summary>
public static class BenchPipelineCommand
{
    public static Command Create()
    {
        var preset = new Option<string>("--preset") { Description = $"Model preset: {string.Join(", ", Presets.Names)}.", DefaultValueFactory = _ => "tiny" };
        var stages = new Option<string>("--stages") { Description = "Stage counts to run in turn, comma-separated.", DefaultValueFactory = _ => "1,2,4" };
        var micro = new Option<int>("--micro-batches") { Description = "M: micro-batches per step (divides --batch-size).", DefaultValueFactory = _ => 4 };
        var data = new Option<string>("--data") { Description = "Token dataset to train on.", Required = true };
        var output = Options.Out("Folder for the runs, pipeline.md and pipeline.json.", required: false);
        output.DefaultValueFactory = _ => "bench-pipeline";
        var steps = new Option<int>("--steps") { Description = "Steps per run (the first and last are left out of the rates).", DefaultValueFactory = _ => 8 };
        var batch = new Option<int>("--batch-size") { Description = "Sequences per step.", DefaultValueFactory = _ => 8 };
        var seqLen = new Option<int>("--seq-len") { Description = "Tokens per sequence (0 = the preset's context).", DefaultValueFactory = _ => 64 };
        var precision = new Option<string>("--precision") { Description = "bf16 or fp32.", DefaultValueFactory = _ => "bf16" };
        precision.AcceptOnlyFromAmong("bf16", "fp32");
        var schedule = new Option<string>("--schedule") { Description = "1f1b or gpipe.", DefaultValueFactory = _ => "1f1b" };
        schedule.AcceptOnlyFromAmong(PipelinePlan.Schedules);
        var maxMemory = new Option<string?>("--max-memory") { Description = "Peak RSS each stage may reach (e.g. 900M); a run past it is reported as failed." };
        var port = new Option<int>("--port") { Description = "First driver port (each run takes the next two).", DefaultValueFactory = _ => 30300 };
        var experts = new Option<string>("--expert-parallel") { Description = "Expert-parallel widths E to run each stage count with, comma-separated (1 = none).", DefaultValueFactory = _ => "1" };
        var threads = new Option<int>("--threads") { Description = "libtorch threads per stage.", DefaultValueFactory = _ => 1 };
        var cmd = new Command("pipeline", "Pipeline parallelism on this machine: tokens/s, bubble, peak RSS per stage and bytes per step for each stage count.")
            { preset, stages, micro, data, output, steps, batch, seqLen, precision, schedule, maxMemory, port, threads, experts };
        cmd.SetAction(p => SeekApp.Guard(() =>
        {
            var counts = p.GetValue(stages)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(x => int.TryParse(x, out var n) && n > 0 ? n : throw new SeekSharpException($"--stages: expected positive integers like 1,2,4, found '{x}'.")).ToList();
            if (counts.Count == 0) throw new SeekSharpException("--stages: expected at least one stage count.");
            var widths = p.GetValue(experts)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(x => int.TryParse(x, out var n) && n > 0 ? n : throw new SeekSharpException($"--expert-parallel: expected positive integers like 1,2, found '{x}'.")).ToList();
            if (widths.Count == 0) throw new SeekSharpException("--expert-parallel: expected at least one width.");
            foreach (var w in widths) PipelineEngine.CheckExpertParallel(w, Presets.Get(p.GetValue(preset)!));
            var o = new PipelineBenchOptions
            {
                Preset = p.GetValue(preset)!, DataDir = p.GetValue(data)!, OutDir = p.GetValue(output)!, Stages = counts, MicroBatches = p.GetValue(micro), ExpertParallel = widths,
                Train = new TrainConfig
                {
                    Steps = p.GetValue(steps), BatchSize = p.GetValue(batch), SeqLen = p.GetValue(seqLen), Precision = p.GetValue(precision)!,
                    WarmupSteps = 1, EvalEvery = 0, EvalBatches = 1, CheckpointEvery = 0, KeepCheckpoints = 1,
                }.Validate("--steps/--batch-size"),
                Schedule = p.GetValue(schedule)!, MaxMemory = BaseCommand.ParseBytes(p.GetValue(maxMemory), "--max-memory"), Port = p.GetValue(port), Threads = Math.Max(1, p.GetValue(threads)),
            };
            var line = "seek " + string.Join(' ', p.Tokens.Select(t => t.Value));
            var (rows, report) = PipelineBench.Run(o, line, s => AnsiConsole.MarkupLineInterpolated($"[grey]{s}[/]"));
            var t = new Table().AddColumns("stages", "E", "tokens/s", "s/step", "bubble", "theory", "peak RSS MB per process", "bytes/step", "result");
            foreach (var r in rows)
                t.AddRow($"{r.Stages}", $"{r.Experts}", r.Error is null ? $"{r.TokensPerSecond:F1}" : "-", r.Error is null ? $"{r.StepSeconds:F3}" : "-",
                    r.Error is null ? $"{r.Bubble:P1}" : "-", $"{r.BubbleTheory:P1}", string.Join(" / ", r.PeakRss.Select(b => $"{b / 1048576.0:F0}")),
                    r.Error is null ? $"{r.BytesPerStep:N0}" : "-", r.Error is null ? $"loss {r.FinalLoss:F4}" : Markup.Escape($"failed: {r.Error}"));
            AnsiConsole.Write(t);
            AnsiConsole.MarkupLineInterpolated($"report: [bold]{report}[/]");
            return 0;
        }));
        return cmd;
    }
}
