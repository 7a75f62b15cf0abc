using System.CommandLine;
using SeekSharp.Reasoning;
using SeekSharp.Recipes;
using Spectre.Console;

namespace SeekSharp.Cli.Commands;

/// <summary>`seek recipe r1`: pretrain, cold-start SFT, GRPO, rejection sampling, SFT, GRPO; one report.</summary>
public static class RecipeR1Command
{
    public static Command Create()
    {
        var d = new R1Options();
        var output = Options.Out("Recipe folder: pretrain/, sft-cold/, rl1/, samples.jsonl, sft-rs/, rl2/, report.md + PNGs, ledger.json.");
        var preset = new Option<string>("--preset") { Description = "Model preset to pretrain.", DefaultValueFactory = _ => d.Preset };
        var task = new Option<string>("--task") { Description = "arithmetic, countdown or finance.", DefaultValueFactory = _ => d.Task };
        var baseModel = new Option<string?>("--base") { Description = "Start from this pretrained model folder instead of building a corpus and pretraining." };
        var docs = new Option<int>("--documents") { Description = "Pretraining corpus documents.", DefaultValueFactory = _ => d.Documents };
        var pretrainSteps = new Option<int>("--pretrain-steps") { Description = "Pretraining steps.", DefaultValueFactory = _ => d.PretrainSteps };
        var coldStart = new Option<int>("--cold-start") { Description = "Problems in the cold-start SFT set.", DefaultValueFactory = _ => d.ColdStartExamples };
        var coldSteps = new Option<int>("--cold-start-steps") { Description = "Cold-start SFT steps.", DefaultValueFactory = _ => d.ColdStartSteps };
        var minutesRl = new Option<double>("--minutes-rl") { Description = "Minutes of the first GRPO round.", DefaultValueFactory = _ => d.MinutesRl };
        var minutesRl2 = new Option<double>("--minutes-rl2") { Description = "Minutes of the second GRPO round.", DefaultValueFactory = _ => d.MinutesRl2 };
        var group = new Option<int>("--group") { Description = "GRPO completions per prompt.", DefaultValueFactory = _ => d.Grpo.GroupSize };
        var ppStep = new Option<int>("--prompts-per-step") { Description = "GRPO prompts per step.", DefaultValueFactory = _ => d.Grpo.PromptsPerStep };
        var rolloutRows = new Option<int>("--rollout-rows") { Description = "GRPO completions decoded together at most.", DefaultValueFactory = _ => d.Grpo.RolloutRows };
        var temperature = new Option<double>("--temperature") { Description = "GRPO rollout temperature (the loss scores tokens at the same temperature).", DefaultValueFactory = _ => d.Grpo.Temperature };
        var warmup = new Option<int>("--warmup") { Description = "GRPO warmup steps (learning rate rising linearly from 0).", DefaultValueFactory = _ => d.Grpo.Train.WarmupSteps };
        var lr = new Option<double>("--lr") { Description = "GRPO learning rate.", DefaultValueFactory = _ => d.Grpo.Train.LearningRate };
        var beta = new Option<double>("--beta") { Description = "GRPO KL weight.", DefaultValueFactory = _ => d.Grpo.Beta };
        var loss = new Option<string>("--loss") { Description = "GRPO loss aggregation: grpo or dr_grpo.", DefaultValueFactory = _ => "grpo" };
        loss.AcceptOnlyFromAmong("grpo", "dr_grpo");
        var maxTokens = new Option<int>("--max-tokens") { Description = "Completion tokens at most (RL, sampling, evaluation); 0 = the task's default (arithmetic 128, others 160).", DefaultValueFactory = _ => 0 };
        var evalCount = new Option<int>("--eval-count") { Description = "Held-out problems per stage evaluation.", DefaultValueFactory = _ => d.EvalCount };
        var seed = new Option<int>("--seed") { Description = "Seed of every stage.", DefaultValueFactory = _ => d.Seed };
        var device = Options.Device();
        var hardware = Options.Hardware();
        var cmd = new Command("r1", "DeepSeek-R1 end to end: pretrain, cold-start SFT, GRPO, rejection sampling, SFT, GRPO; held-out pass@1 after each stage.")
        {
            output, preset, task, baseModel, docs, pretrainSteps, coldStart, coldSteps, minutesRl, minutesRl2, group, ppStep, rolloutRows, temperature, lr, warmup, beta, loss,
            maxTokens, evalCount, seed, device, hardware,
        };
        cmd.SetAction(p => SeekApp.Guard(() =>
        {
            int max = p.GetValue(maxTokens) is > 0 and var m ? m : R1Recipe.DefaultMaxTokens(p.GetValue(task)!);
            var o = d with
            {
                OutDir = p.GetValue(output)!, Preset = p.GetValue(preset)!, Task = p.GetValue(task)!, BaseModel = p.GetValue(baseModel),
                Documents = p.GetValue(docs), PretrainSteps = p.GetValue(pretrainSteps), ColdStartExamples = p.GetValue(coldStart),
                ColdStartSteps = p.GetValue(coldSteps), MinutesRl = p.GetValue(minutesRl), MinutesRl2 = p.GetValue(minutesRl2),
                EvalCount = p.GetValue(evalCount), Seed = p.GetValue(seed), Device = p.GetValue(device)!, HardwareProfilePath = p.GetValue(hardware),
                Eval = d.Eval with { MaxTokens = max },
                Grpo = d.Grpo with
                {
                    GroupSize = p.GetValue(group), PromptsPerStep = p.GetValue(ppStep), RolloutRows = p.GetValue(rolloutRows), Temperature = p.GetValue(temperature), Beta = p.GetValue(beta), MaxTokens = max,
                    Loss = GrpoConfig.ParseLoss(p.GetValue(loss)!), Train = d.Grpo.Train with { LearningRate = p.GetValue(lr), WarmupSteps = p.GetValue(warmup) },
                },
            };
            var r = new TrainingProgress().Run("r1 recipe", obs => R1Recipe.Run(o, obs));
            var t = new Table().AddColumns("stage", "held-out pass@1", "format", "wall", "USD", "notes");
            foreach (var s in r.Stages)
                t.AddRow(s.Name, s.Eval is { } e ? $"{e.PassAt1:P1}" : "-", s.Eval is { } f ? $"{f.FormatRate:P1}" : "-",
                    $"{TimeSpan.FromSeconds(s.Ledger.WallSeconds):hh\\:mm\\:ss}", $"{s.Ledger.Usd:F4}", Markup.Escape(s.Note));
            AnsiConsole.Write(t);
            AnsiConsole.MarkupLineInterpolated($"report: [bold]{r.ReportPath}[/]");
            return 0;
        }));
        return cmd;
    }
}
