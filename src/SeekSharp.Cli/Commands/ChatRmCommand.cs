using System.CommandLine;
using SeekSharp.Alignment;
using Spectre.Console;

namespace SeekSharp.Cli.Commands;

/// <summary>`seek chat rm`: train a reward model (scalar head on a model folder) from preference pairs or labelled samples.</summary>
public static class ChatRmCommand
{
    public static Command Create()
    {
        var d = RewardConfig.DefaultTrain;
        var model = new Option<string>("--model") { Description = "Model folder to start the backbone from.", Required = true };
        var data = new Option<string>("--data") { Description = "JSONL of {prompt, chosen, rejected} pairs (Bradley-Terry) or {prompt, completion, label} samples (BCE).", Required = true };
        var output = Options.Out("Reward-model folder: backbone model files, reward_head.safetensors, reward_config.json, metrics.jsonl, ledger.json, report.md.");
        var steps = new Option<int>("--steps") { Description = "Optimizer steps (ignored when --epochs is given).", DefaultValueFactory = _ => d.Steps };
        var epochs = new Option<double>("--epochs") { Description = "Passes over the training records; sets the step count." };
        var lr = new Option<double>("--lr") { Description = "Peak learning rate.", DefaultValueFactory = _ => d.LearningRate };
        var batch = new Option<int>("--batch-size") { Description = "Pairs (or samples) per micro-batch.", DefaultValueFactory = _ => d.BatchSize };
        var valFraction = new Option<double>("--val-fraction") { Description = "Records held out for validation loss and accuracy.", DefaultValueFactory = _ => 0.05 };
        var evalEvery = new Option<int>("--eval-every") { Description = "Validate every N steps (and at the end).", DefaultValueFactory = _ => d.EvalEvery };
        var precision = new Option<string>("--precision") { Description = "bf16 (fast path), fp32, or fp8 (DeepSeek-V3 E4M3 tile-scaled numerics, simulated).", DefaultValueFactory = _ => "bf16" };
        precision.AcceptOnlyFromAmong("bf16", "fp32", "fp8");
        var seed = new Option<int>("--seed") { Description = "Seed for the split, batch order and head init.", DefaultValueFactory = _ => d.Seed };
        var ckptEvery = new Option<int>("--checkpoint-every") { Description = "Write a resumable checkpoint (a model folder) every N steps and at the end; 0 = none.", DefaultValueFactory = _ => 50 };
        var resume = new Option<bool>("--resume") { Description = "Continue the run in --out from its latest checkpoint (same options)." };
        var device = Options.Device();
        var hardware = Options.Hardware();
        var cmd = new Command("rm", "Train a reward model: last-token hidden state → scalar.")
            { model, data, output, steps, epochs, lr, batch, valFraction, evalEvery, precision, seed, ckptEvery, resume, device, hardware };
        cmd.SetAction(p => SeekApp.Guard(() =>
        {
            var config = new RewardConfig
            {
                ModelDir = p.GetValue(model)!, DataPath = p.GetValue(data)!, OutDir = p.GetValue(output)!,
                Epochs = p.GetValue(epochs), ValFraction = p.GetValue(valFraction), HardwareProfilePath = p.GetValue(hardware), Resume = p.GetValue(resume),
                Train = d with
                {
                    Steps = p.GetValue(steps), LearningRate = p.GetValue(lr), BatchSize = p.GetValue(batch), EvalEvery = p.GetValue(evalEvery),
                    Precision = p.GetValue(precision)!, Seed = p.GetValue(seed), Device = p.GetValue(device)!, CheckpointEvery = p.GetValue(ckptEvery),
                },
            };
            var r = new TrainingProgress().Run("reward model", obs => RewardTrainer.Run(config, obs));
            var t = new Table().AddColumns("objective", "steps", "records", "loss", "val loss", "val accuracy", "wall", "kWh", "USD");
            var l = r.Ledger;
            t.AddRow(RewardModelInfo.Name(r.Objective), $"{r.Steps}", $"{r.TrainRecords}+{r.ValRecords}", $"{r.FinalLoss:F3}",
                r.FinalValLoss is { } v ? $"{v:F3}" : "-", r.FinalValAccuracy is { } a ? $"{a:P1}" : "-",
                $"{TimeSpan.FromSeconds(l.WallSeconds):hh\\:mm\\:ss}", $"{l.EnergyKwh:F4}", $"{l.Usd:F4}");
            AnsiConsole.Write(t);
            if (l.Storage is { } storage) AnsiConsole.MarkupLineInterpolated($"storage: {storage.Summary()}");
            AnsiConsole.MarkupLineInterpolated($"reward model: [bold]{r.OutDir}[/] (load with RewardModel.Load; report.md, loss.png, metrics.jsonl, ledger.json)");
            return 0;
        }));
        return cmd;
    }
}
