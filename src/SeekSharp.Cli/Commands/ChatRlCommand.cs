using System.CommandLine;
using SeekSharp.Reasoning;
using Spectre.Console;

namespace SeekSharp.Cli.Commands;

/// <summary>`seek chat rl`: GRPO with verifiable rewards (format + accuracy, optionally a reward model).</summary>
public static class ChatRlCommand
{
    /// <summary>A checkpoint (weights and AdamW moments) costs about three model files of writing; every 25 steps that is
    /// small next to the steps' sampling.</summary>
    public const int DefaultCheckpointEvery = 25;

    public static Command Create()
    {
        var d = new GrpoConfig();
        var t = GrpoConfig.DefaultTrain;
        var model = new Option<string>("--model") { Description = "Model folder to start from (usually a cold-start SFT); also the KL reference.", Required = true };
        var task = new Option<string>("--task") { Description = "arithmetic, countdown, finance, or a `seek data synth` JSONL of prompts.", Required = true };
        var output = Options.Out("Output model folder: model files, grpo_config.json, train_prompts.jsonl, metrics.jsonl, ledger.json, report.md + PNGs.");
        var group = new Option<int>("--group") { Description = "Completions per prompt (G).", DefaultValueFactory = _ => d.GroupSize };
        var ppStep = new Option<int>("--prompts-per-step") { Description = "Prompts per optimizer step.", DefaultValueFactory = _ => d.PromptsPerStep };
        var rolloutRows = new Option<int>("--rollout-rows") { Description = "Completions decoded together at most (a step's prompts x group should fit).", DefaultValueFactory = _ => d.RolloutRows };
        var steps = new Option<int>("--steps") { Description = "Steps (an upper bound when --minutes is given).", DefaultValueFactory = _ => t.Steps };
        var minutes = new Option<double>("--minutes") { Description = "Stop after this many minutes of RL (periodic evaluation not counted); 0 = no limit.", DefaultValueFactory = _ => 0 };
        var lr = new Option<double>("--lr") { Description = "Learning rate (constant after warmup).", DefaultValueFactory = _ => t.LearningRate };
        var warmup = new Option<int>("--warmup") { Description = "Warmup steps.", DefaultValueFactory = _ => t.WarmupSteps };
        var beta = new Option<double>("--beta") { Description = "KL penalty weight (k3); 0 loads no reference model.", DefaultValueFactory = _ => d.Beta };
        var eps = new Option<double>("--epsilon") { Description = "Clip range: ratio kept in [1 - epsilon, 1 + epsilon-high].", DefaultValueFactory = _ => d.Epsilon };
        var epsHigh = new Option<double?>("--epsilon-high") { Description = "Upper clip (DAPO clip-higher); default = --epsilon." };
        var loss = new Option<string>("--loss") { Description = "Loss aggregation: grpo or dr_grpo.", DefaultValueFactory = _ => "grpo" };
        loss.AcceptOnlyFromAmong("grpo", "dr_grpo");
        var mu = new Option<int>("--mu") { Description = "Optimizer steps per batch of rollouts.", DefaultValueFactory = _ => d.Mu };
        var temperature = new Option<double>("--temperature") { Description = "Sampling temperature of the rollouts.", DefaultValueFactory = _ => d.Temperature };
        var maxTokens = new Option<int>("--max-tokens") { Description = "Completion tokens at most.", DefaultValueFactory = _ => d.MaxTokens };
        var formatWeight = new Option<double>("--format-weight") { Description = "Weight of the format reward (accuracy has weight 1).", DefaultValueFactory = _ => d.FormatWeight };
        var rm = new Option<string?>("--rm") { Description = "Reward model folder (`seek chat rm`) to weigh into the reward." };
        var rmWeight = new Option<double>("--rm-weight") { Description = "Weight of the reward model's score (squashed to 0..1).", DefaultValueFactory = _ => d.RewardModelWeight };
        var evalEvery = new Option<int>("--eval-every") { Description = "Greedy held-out pass@1 every N steps (0 = never).", DefaultValueFactory = _ => 0 };
        var evalCount = new Option<int>("--eval-count") { Description = "Held-out problems per periodic evaluation.", DefaultValueFactory = _ => d.EvalCount };
        var precision = new Option<string>("--precision") { Description = "bf16 (fast path), fp32, or fp8 (DeepSeek-V3 E4M3 tile-scaled numerics, simulated).", DefaultValueFactory = _ => "bf16" };
        precision.AcceptOnlyFromAmong("bf16", "fp32", "fp8");
        var seed = new Option<int>("--seed") { Description = "Seed for prompts and sampling.", DefaultValueFactory = _ => t.Seed };
        var ckptEvery = new Option<int>("--checkpoint-every") { Description = "Save a resumable checkpoint every N steps and at the end (0 = never).", DefaultValueFactory = _ => DefaultCheckpointEvery };
        var resume = new Option<bool>("--resume") { Description = "Continue the run in --out from its latest checkpoint (same settings; --steps, --minutes may grow)." };
        var curriculum = new Option<bool>("--curriculum") { Description = "Sample prompts by their recent pass rate; skip groups predicted all right or all wrong before rolling them out (counted as saved)." };
        var device = Options.Device();
        var hardware = Options.Hardware();
        var cmd = new Command("rl", "GRPO: group-sampled completions, rule-based rewards, group-relative advantages, clipped ratio, KL.")
        {
            model, task, output, group, ppStep, rolloutRows, steps, minutes, lr, warmup, beta, eps, epsHigh, loss, mu, temperature, maxTokens,
            formatWeight, rm, rmWeight, evalEvery, evalCount, precision, seed, ckptEvery, resume, curriculum, device, hardware,
        };
        cmd.SetAction(p => SeekApp.Guard(() =>
        {
            var config = new GrpoConfig
            {
                ModelDir = p.GetValue(model)!, OutDir = p.GetValue(output)!, Task = p.GetValue(task)!, GroupSize = p.GetValue(group),
                PromptsPerStep = p.GetValue(ppStep), RolloutRows = p.GetValue(rolloutRows), Minutes = p.GetValue(minutes), Temperature = p.GetValue(temperature),
                MaxTokens = p.GetValue(maxTokens), Beta = p.GetValue(beta), Epsilon = p.GetValue(eps), EpsilonHigh = p.GetValue(epsHigh),
                Loss = GrpoConfig.ParseLoss(p.GetValue(loss)!), Mu = p.GetValue(mu), FormatWeight = p.GetValue(formatWeight),
                RewardModelDir = p.GetValue(rm), RewardModelWeight = p.GetValue(rmWeight), EvalEvery = p.GetValue(evalEvery),
                EvalCount = p.GetValue(evalCount), HardwareProfilePath = p.GetValue(hardware), Resume = p.GetValue(resume), Curriculum = p.GetValue(curriculum),
                Train = t with
                {
                    Steps = p.GetValue(steps), LearningRate = p.GetValue(lr), WarmupSteps = p.GetValue(warmup),
                    Precision = p.GetValue(precision)!, Seed = p.GetValue(seed), Device = p.GetValue(device)!, CheckpointEvery = p.GetValue(ckptEvery),
                },
            };
            var r = new TrainingProgress().Run("GRPO", obs => GrpoTrainer.Run(config, obs));
            Print(r);
            return 0;
        }));
        return cmd;
    }

    static void Print(GrpoResult r)
    {
        var t = new Table().AddColumns("steps", "RL minutes", "reward (first)", "reward (last)", "held-out pass@1", "wall", "kWh", "gCO2", "USD");
        var l = r.Ledger;
        var held = r.Evals.Count > 0 ? $"{r.Evals[0].Eval.PassAt1:P1} → {r.Evals[^1].Eval.PassAt1:P1}" : "-";
        t.AddRow($"{r.Steps}", $"{r.RlSeconds / 60:F1}", $"{r.FirstReward:F3}", $"{r.LastReward:F3}", held,
            $"{TimeSpan.FromSeconds(l.WallSeconds):hh\\:mm\\:ss}", $"{l.EnergyKwh:F4}", $"{l.Co2Grams:F1}", $"{l.Usd:F4}");
        AnsiConsole.Write(t);
        if (r.RolloutsSaved is { } saved)
            AnsiConsole.MarkupLineInterpolated($"curriculum: {saved:N0} rollouts saved (groups predicted all right or all wrong, skipped before rollout); {r.Rollouts:N0} rolled out");
        if (l.Storage is { } storage) AnsiConsole.MarkupLineInterpolated($"storage: {storage.Summary()}");
        AnsiConsole.MarkupLineInterpolated($"model folder: [bold]{r.OutDir}[/] (model.safetensors, config.json, tokenizer, grpo_config.json, train_prompts.jsonl, metrics.jsonl, ledger.json, report.md, reward.png, accuracy.png, length.png; checkpoints/ for --resume)");
    }
}
