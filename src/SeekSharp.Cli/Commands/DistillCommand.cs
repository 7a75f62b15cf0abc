using System.CommandLine;
using SeekSharp.Alignment;
using SeekSharp.Distillation;
using SeekSharp.Training;
using Spectre.Console;

namespace SeekSharp.Cli.Commands;

/// <summary>`seek distill`: a teacher's verified traces fine-tune a (smaller) student.</summary>
public static class DistillCommand
{
    public static Command Create()
    {
        var d = SftConfig.DefaultTrain;
        var teacher = new Option<string>("--teacher") { Description = "Teacher model folder (e.g. the R1 recipe's rl2/).", Required = true };
        var student = new Option<string?>("--student") { Description = "Student model folder; must share the teacher's tokenizer." };
        var preset = new Option<string?>("--student-preset") { Description = "Student preset (e.g. mini), random-initialized with the teacher's tokenizer." };
        var output = Options.Out("Student model folder: model.safetensors, config.json, tokenizer, traces.jsonl, metrics.jsonl, ledger.json (teacher included), report.md.");
        var mode = new Option<string>("--mode") { Description = "seq: SFT on the teacher's verified traces; logits: the same traces, KL to the teacher's top-k logits mixed with cross-entropy.", DefaultValueFactory = _ => "seq" };
        var topK = new Option<int>("--top-k") { Description = "logits: teacher logits kept per position.", DefaultValueFactory = _ => 32 };
        var tau = new Option<double>("--tau") { Description = "logits: distillation temperature.", DefaultValueFactory = _ => 2.0 };
        var alpha = new Option<double>("--alpha") { Description = "logits: weight of cross-entropy (1 - alpha on tau^2 KL).", DefaultValueFactory = _ => 0.5 };
        var cache = new Option<string?>("--cache") { Description = "logits: teacher top-k cache file (default OUT/teacher_topk.bin); reused when its header matches." };
        var task = new Option<string>("--task") { Description = "arithmetic, countdown, finance, or a `seek data synth` JSONL of prompts.", DefaultValueFactory = _ => "arithmetic" };
        var count = new Option<int>("--count") { Description = "Training prompts the teacher samples.", DefaultValueFactory = _ => 256 };
        var samples = new Option<int>("--samples") { Description = "Teacher samples per prompt (K).", DefaultValueFactory = _ => 8 };
        var temperature = new Option<double>("--temperature") { Description = "Teacher sampling temperature.", DefaultValueFactory = _ => 1.0 };
        var maxTokens = new Option<int>("--max-tokens") { Description = "Teacher completion tokens at most.", DefaultValueFactory = _ => 128 };
        var steps = new Option<int>("--steps") { Description = "Student SFT steps (ignored when --epochs is given).", DefaultValueFactory = _ => d.Steps };
        var epochs = new Option<double>("--epochs") { Description = "Passes over the traces; sets the step count." };
        var lr = new Option<double>("--lr") { Description = "Student peak learning rate.", DefaultValueFactory = _ => d.LearningRate };
        var batch = new Option<int>("--batch-size") { Description = "Conversations per micro-batch.", DefaultValueFactory = _ => d.BatchSize };
        var warmup = new Option<int>("--warmup") { Description = "Warmup steps.", DefaultValueFactory = _ => d.WarmupSteps };
        var precision = new Option<string>("--precision") { Description = "bf16 or fp32 (teacher and student).", DefaultValueFactory = _ => "bf16" };
        precision.AcceptOnlyFromAmong("bf16", "fp32");
        var seed = new Option<int>("--seed") { Description = "Seed of prompts, sampling, student init and batch order.", DefaultValueFactory = _ => 1 };
        var device = Options.Device();
        var hardware = Options.Hardware();
        var cmd = new Command("distill", "Distill a teacher into a student: verified teacher traces, then SFT of the student.")
            { teacher, student, preset, output, mode, topK, tau, alpha, cache, task, count, samples, temperature, maxTokens, steps, epochs, lr, batch, warmup, precision, seed, device, hardware };
        cmd.SetAction(p => SeekApp.Guard(() =>
        {
            var o = new DistillOptions
            {
                TeacherDir = p.GetValue(teacher)!, StudentDir = p.GetValue(student), StudentPreset = p.GetValue(preset), OutDir = p.GetValue(output)!,
                Mode = p.GetValue(mode)!, TopK = p.GetValue(topK), Tau = p.GetValue(tau), Alpha = p.GetValue(alpha), CachePath = p.GetValue(cache), Task = p.GetValue(task)!, Prompts = p.GetValue(count), Samples = p.GetValue(samples),
                Temperature = p.GetValue(temperature), MaxTokens = p.GetValue(maxTokens), Seed = p.GetValue(seed), Epochs = p.GetValue(epochs),
                HardwareProfilePath = p.GetValue(hardware),
                Train = d with
                {
                    Steps = p.GetValue(steps), LearningRate = p.GetValue(lr), BatchSize = p.GetValue(batch), WarmupSteps = p.GetValue(warmup),
                    Precision = p.GetValue(precision)!, Seed = p.GetValue(seed), Device = p.GetValue(device)!,
                },
            };
            Distiller.Check(o); // refusals before the bar starts
            var r = new TrainingProgress().Run("distilling", obs => Distiller.Run(o, obs));
            var t = new Table().AddColumns("traces kept", "teacher s", "steps", "records", "loss", "val loss", "wall (all)", "USD (all)");
            var l = r.Student.Ledger;
            t.AddRow($"{r.Sampling.Kept} of {r.Sampling.Samples}", $"{r.Sampling.Seconds:F0}", $"{r.Student.Steps}", $"{r.Student.TrainExamples}+{r.Student.ValExamples}",
                $"{r.Student.FinalLoss:F3}", r.Student.FinalValLoss is { } v ? $"{v:F3}" : "-", $"{TimeSpan.FromSeconds(l.WallSeconds):hh\\:mm\\:ss}", $"{l.Usd:F4}");
            AnsiConsole.Write(t);
            AnsiConsole.MarkupLineInterpolated($"student: [bold]{r.OutDir}[/] (model folder, traces.jsonl, metrics.jsonl, ledger.json with the teacher's costs, report.md)");
            return 0;
        }));
        return cmd;
    }
}
