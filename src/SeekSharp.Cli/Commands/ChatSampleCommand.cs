using System.CommandLine;
using SeekSharp.Reasoning;
using Spectre.Console;

namespace SeekSharp.Cli.Commands;

/// <summary>`seek chat sample`: rejection sampling into SFT-ready chat records.</summary>
public static class ChatSampleCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Model folder to sample from.", Required = true };
        var task = new Option<string>("--task") { Description = "arithmetic, countdown, finance, or a `seek data synth` JSONL of prompts.", Required = true };
        var samples = new Option<int>("--samples") { Description = "Completions per prompt (K).", DefaultValueFactory = _ => 8 };
        var count = new Option<int>("--count") { Description = "Prompts to sample (training side of the held-out partition).", DefaultValueFactory = _ => 200 };
        var output = Options.Out("JSONL of kept samples: {\"messages\": [user, assistant], \"problem\": {...}}, readable by `seek chat sft --data`.");
        var temperature = new Option<double>("--temperature") { Description = "Sampling temperature.", DefaultValueFactory = _ => 1.0 };
        var maxTokens = new Option<int>("--max-tokens") { Description = "Completion tokens at most.", DefaultValueFactory = _ => 160 };
        var seed = new Option<int>("--seed") { Description = "Seed for prompts and sampling.", DefaultValueFactory = _ => 7 };
        var device = Options.Device();
        var cmd = new Command("sample", "Rejection sampling: K completions per prompt, keep the verified-correct ones, deduplicate.")
            { model, task, samples, count, output, temperature, maxTokens, seed, device };
        cmd.SetAction(p => SeekApp.Guard(() =>
        {
            var r = RejectionSampling.Run(p.GetValue(model)!, p.GetValue(task)!, p.GetValue(count), p.GetValue(samples), p.GetValue(output)!,
                p.GetValue(maxTokens), p.GetValue(temperature), p.GetValue(seed), device: p.GetValue(device)!);
            var t = new Table().AddColumns("prompts", "samples", "correct", "kept (distinct)", "prompts kept", "seconds");
            t.AddRow($"{r.Prompts}", $"{r.Samples}", $"{r.Correct} ({(double)r.Correct / r.Samples:P1})", $"{r.Kept}", $"{r.PromptsWithKept}", $"{r.Seconds:F0}");
            AnsiConsole.Write(t);
            AnsiConsole.MarkupLineInterpolated($"kept samples: [bold]{r.OutPath}[/]");
            return 0;
        }));
        return cmd;
    }
}
