using System.CommandLine;
using SeekSharp.Distributed;
using SeekSharp.Modeling;
using SeekSharp.Training;
using Spectre.Console;

namespace SeekSharp.Cli.Commands;

/// <summary>`seek bench diloco`: a hub and M worker processes against the synchronous baseline on the same tokens.</summary>
public static class BenchDilocoCommand
{
    public static Command Create()
    {
        var preset = new Option<string>("--preset") { Description = $"Model preset: {string.Join(", ", Presets.Names)}.", DefaultValueFactory = _ => "tiny" };
        var init = new Option<string?>("--init") { Description = "A model folder both start from (DiLoCo's setting: a pretrained model) instead of --preset's random weights." };
        var workers = new Option<int>("--workers") { Description = "M: worker processes, each on its own shard of the data.", DefaultValueFactory = _ => 2 };
        var inner = new Option<int>("--inner-steps") { Description = "H: inner steps per round.", DefaultValueFactory = _ => 50 };
        var outer = new Option<int>("--outer-steps") { Description = "N: rounds.", DefaultValueFactory = _ => 10 };
        var data = new Option<string>("--data") { Description = "Token dataset (its training split is sharded, its validation split scores both).", Required = true };
        var output = Options.Out("Folder for the shards, the runs' folders and logs, diloco.md and diloco.json.", required: false);
        output.DefaultValueFactory = _ => "bench-diloco";
        var batch = new Option<int>("--batch-size") { Description = "Sequences per worker step (the baseline takes M times more).", DefaultValueFactory = _ => 8 };
        var seqLen = new Option<int>("--seq-len") { Description = "Tokens per sequence (0 = the preset's context).", DefaultValueFactory = _ => 0 };
        var lr = new Option<double>("--lr") { Description = "Inner / baseline AdamW peak learning rate.", DefaultValueFactory = _ => 3e-3 };
        var warmup = new Option<int>("--warmup") { Description = "Warmup steps.", DefaultValueFactory = _ => 20 };
        var precision = new Option<string>("--precision") { Description = "bf16 or fp32.", DefaultValueFactory = _ => "bf16" };
        precision.AcceptOnlyFromAmong("bf16", "fp32");
        var seed = new Option<int>("--seed") { Description = "Seed.", DefaultValueFactory = _ => 1337 };
        var compress = new Option<string>("--compress") { Description = "Codecs to run, comma-separated (int8, none); the fault run uses the first.", DefaultValueFactory = _ => "int8" };
        var noFault = new Option<bool>("--no-fault") { Description = "Skip the run with one worker killed mid-way." };
        var port = new Option<int>("--port") { Description = "First hub port (each run takes the next two).", DefaultValueFactory = _ => 30100 };
        var evalBatches = new Option<int>("--eval-batches") { Description = "Validation batches (of 8).", DefaultValueFactory = _ => 8 };
        var outerLr = new Option<double>("--outer-lr") { Description = "The hub's outer learning rate.", DefaultValueFactory = _ => 0.7 };
        var outerMomentum = new Option<double>("--outer-momentum") { Description = "The hub's outer Nesterov momentum.", DefaultValueFactory = _ => 0.9 };
        var shards = new Option<string>("--shards") { Description = "How the training split is cut among the workers: interleaved (64K-token blocks dealt round-robin: each shard a sample of the mix) or contiguous (M consecutive ranges: non-i.i.d. when the split is source by source).", DefaultValueFactory = _ => DataShards.Interleaved };
        shards.AcceptOnlyFromAmong(DataShards.Kinds);
        var threads = new Option<int>("--threads") { Description = "libtorch threads per worker.", DefaultValueFactory = _ => 1 };
        var cmd = new Command("diloco", "DiLoCo (hub + M worker processes) against synchronous training with an M-times larger batch on the same tokens.")
            { preset, init, workers, inner, outer, data, output, batch, seqLen, lr, warmup, precision, seed, compress, noFault, port, evalBatches, threads, outerLr, outerMomentum, shards };
        cmd.SetAction(p => SeekApp.Guard(() =>
        {
            var o = new DilocoBenchOptions
            {
                Preset = p.GetValue(preset)!, InitDir = p.GetValue(init), DataDir = p.GetValue(data)!, OutDir = p.GetValue(output)!, Workers = p.GetValue(workers),
                InnerSteps = p.GetValue(inner), OuterSteps = p.GetValue(outer),
                Inner = new TrainConfig
                {
                    BatchSize = p.GetValue(batch), SeqLen = p.GetValue(seqLen), LearningRate = p.GetValue(lr), WarmupSteps = p.GetValue(warmup),
                    Precision = p.GetValue(precision)!, Seed = p.GetValue(seed),
                }.Validate("--batch-size/--lr/--warmup"),
                Compress = p.GetValue(compress)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
                Fault = !p.GetValue(noFault), Port = p.GetValue(port), EvalBatches = p.GetValue(evalBatches), Threads = p.GetValue(threads),
                OuterLr = p.GetValue(outerLr), OuterMomentum = p.GetValue(outerMomentum), Shards = p.GetValue(shards)!,
            };
            if (o.Compress.Count == 0) throw new SeekSharpException("--compress: expected int8, none or both.");
            var line = "seek " + string.Join(' ', p.Tokens.Select(t => t.Value));
            var (rows, allReduce, report) = DilocoBench.Run(o, line, s => AnsiConsole.MarkupLineInterpolated($"[grey]{s}[/]"));
            var t = new Table().AddColumns("run", "val loss", "vs baseline", "bytes (all)", "all-reduce / bytes", "per worker link", "wall s", "rounds");
            foreach (var r in rows)
                t.AddRow(r.Run, $"{r.ValLoss:F4}", $"{r.Ratio:F4}", $"{r.Bytes:N0}", $"{r.BytesVsAllReduce:F1}x", $"{r.PerLinkVsAllReduce:F1}x", $"{r.WallSeconds:F1}", $"{r.Rounds}");
            AnsiConsole.Write(t);
            AnsiConsole.MarkupLineInterpolated($"all-reduce reference (ring, fp32 gradients every step): {allReduce:N0} bytes; report: [bold]{report}[/]");
            return 0;
        }));
        return cmd;
    }
}
