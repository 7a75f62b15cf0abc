using System.CommandLine;
using SeekSharp.Alignment;
using SeekSharp.Training;
using Spectre.Console;

namespace SeekSharp.Cli.Commands;

/// <summary>`seek chat sft`: fine-tune a model folder on chat JSONL, all weights or LoRA adapters.</summary>
public static class ChatSftCommand
{
    public static Command Create()
    {
        var d = SftConfig.DefaultTrain;
        var model = new Option<string>("--model") { Description = "Model folder to start from (config.json, model.safetensors, tokenizer.json).", Required = true };
        var data = new Option<string>("--data") { Description = "Chat JSONL: {\"messages\": [...]} records and/or `seek data synth` records.", Required = true };
        var output = Options.Out("Output model folder: model.safetensors, config.json, tokenizer, metrics.jsonl, ledger.json, report.md (and adapter/ with --lora).");
        var steps = new Option<int>("--steps") { Description = "Optimizer steps (ignored when --epochs is given).", DefaultValueFactory = _ => d.Steps };
        var epochs = new Option<double>("--epochs") { Description = "Passes over the training records; sets the step count." };
        var lr = new Option<double>("--lr") { Description = "Peak learning rate.", DefaultValueFactory = _ => d.LearningRate };
        var batch = new Option<int>("--batch-size") { Description = "Conversations per micro-batch (right-padded to the longest).", DefaultValueFactory = _ => d.BatchSize };
        var accum = new Option<int>("--grad-accum") { Description = "Micro-batches per optimizer step.", DefaultValueFactory = _ => 1 };
        var warmup = new Option<int>("--warmup") { Description = "Warmup steps.", DefaultValueFactory = _ => d.WarmupSteps };
        var lora = new Option<int>("--lora") { Description = "Train rank-R LoRA adapters on a frozen base (0 = all weights).", DefaultValueFactory = _ => 0 };
        var alpha = new Option<double>("--lora-alpha") { Description = "LoRA scale numerator (update scaled by alpha/R); default 2R." };
        var valFraction = new Option<double>("--val-fraction") { Description = "Records held out for validation loss.", DefaultValueFactory = _ => 0.05 };
        var evalEvery = new Option<int>("--eval-every") { Description = "Validate every N steps (and at the end).", DefaultValueFactory = _ => d.EvalEvery };
        var precision = new Option<string>("--precision") { Description = "bf16 (fast path), fp32, or fp8 (DeepSeek-V3 E4M3 tile-scaled numerics, simulated).", DefaultValueFactory = _ => "bf16" };
        precision.AcceptOnlyFromAmong("bf16", "fp32", "fp8");
        var seed = new Option<int>("--seed") { Description = "Seed for the split, batch order and adapter init.", DefaultValueFactory = _ => d.Seed };
        var ckptEvery = new Option<int>("--checkpoint-every") { Description = "Write a resumable checkpoint (a model folder) every N steps and at the end; 0 = none.", DefaultValueFactory = _ => 50 };
        var resume = new Option<bool>("--resume") { Description = "Continue the run in --out from its latest checkpoint (same options)." };
        var device = Options.Device();
        var hardware = Options.Hardware();
        var cmd = new Command("sft", "Supervised fine-tuning with the loss on assistant tokens only.")
            { model, data, output, steps, epochs, lr, batch, accum, warmup, lora, alpha, valFraction, evalEvery, precision, seed, ckptEvery, resume, device, hardware };
        cmd.SetAction(p => SeekApp.Guard(() =>
        {
            int rank = p.GetValue(lora);
            if (rank < 0) throw new SeekSharpException($"--lora must be 0 (full fine-tuning) or a positive rank, got {rank}.");
            var config = new SftConfig
            {
                ModelDir = p.GetValue(model)!, DataPath = p.GetValue(data)!, OutDir = p.GetValue(output)!,
                Epochs = p.GetValue(epochs), ValFraction = p.GetValue(valFraction), HardwareProfilePath = p.GetValue(hardware), Resume = p.GetValue(resume),
                Lora = rank > 0 ? new LoraConfig { Rank = rank, Alpha = p.GetResult(alpha) is null ? 2.0 * rank : p.GetValue(alpha) } : null,
                Train = d with
                {
                    Steps = p.GetValue(steps), LearningRate = p.GetValue(lr), BatchSize = p.GetValue(batch), GradAccum = p.GetValue(accum),
                    WarmupSteps = p.GetValue(warmup), EvalEvery = p.GetValue(evalEvery), Precision = p.GetValue(precision)!,
                    Seed = p.GetValue(seed), Device = p.GetValue(device)!, CheckpointEvery = p.GetValue(ckptEvery),
                },
            };
            var r = new TrainingProgress().Run("fine-tuning", obs => SftTrainer.Run(config, obs));
            Print(r);
            return 0;
        }));
        return cmd;
    }

    static void Print(SftResult r)
    {
        var t = new Table().AddColumns("steps", "records", "loss", "val loss", "tokens/s", "wall", "kWh", "gCO2", "USD");
        var l = r.Ledger;
        t.AddRow($"{r.Steps}", $"{r.TrainExamples}+{r.ValExamples}", $"{r.FinalLoss:F3}", r.FinalValLoss is { } v ? $"{v:F3}" : "-",
            $"{r.TokensPerSecond:N0}", $"{TimeSpan.FromSeconds(l.WallSeconds):hh\\:mm\\:ss}", $"{l.EnergyKwh:F4}", $"{l.Co2Grams:F1}", $"{l.Usd:F4}");
        AnsiConsole.Write(t);
        if (l.Storage is { } storage) AnsiConsole.MarkupLineInterpolated($"storage: {storage.Summary()}");
        if (r.SkippedTooLong > 0) AnsiConsole.MarkupLineInterpolated($"[yellow]{r.SkippedTooLong} conversations longer than the context were left out.[/]");
        AnsiConsole.MarkupLineInterpolated($"model folder: [bold]{r.OutDir}[/] (model.safetensors, config.json, tokenizer, metrics.jsonl, ledger.json, report.md, loss.png)");
        if (r.AdapterDir is not null) AnsiConsole.MarkupLineInterpolated($"LoRA adapter: [bold]{r.AdapterDir}[/] (merged into the model above)");
    }
}
