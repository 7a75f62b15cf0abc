using System.CommandLine;
using System.Text.Json;
using SeekSharp.IO;
using SeekSharp.Reasoning;
using Spectre.Console;

namespace SeekSharp.Cli.Commands;

/// <summary>`seek chat eval`: pass@1 and pass@k on the held-out set, refused when it overlaps the training prompts.</summary>
public static class ChatEvalCommand
{
    public static Command Create()
    {
        var d = new EvalOptions();
        var model = new Option<string>("--model") { Description = "Model folder to evaluate.", Required = true };
        var task = new Option<string>("--task") { Description = "arithmetic, countdown, finance (held-out set), or a `seek data synth` JSONL test set.", Required = true };
        // --k defaults to 8 but never above the samples drawn, so `--temperature 0` (one sample) or `--samples 4` needs no --k.
        var k = new Option<int?>("--k") { Description = $"k of pass@k (at most --samples); default {d.K}, or the samples per problem when fewer (1 when greedy)." };
        var samples = new Option<int>("--samples") { Description = "Samples per problem (n) for pass@1 and pass@k.", DefaultValueFactory = _ => d.Samples };
        var count = new Option<int>("--count") { Description = "Held-out problems.", DefaultValueFactory = _ => 200 };
        var trainPrompts = new Option<string[]>("--train-prompts")
        {
            Description = "Extra JSONL files of training prompts (synth or chat records) to check against, besides MODEL/train_prompts.jsonl.",
            AllowMultipleArgumentsPerToken = true,
        };
        var temperature = new Option<double>("--temperature") { Description = "Sampling temperature; 0 = greedy (one sample).", DefaultValueFactory = _ => d.Temperature };
        var topP = new Option<double>("--top-p") { Description = "Nucleus sampling mass.", DefaultValueFactory = _ => d.TopP };
        var maxTokens = new Option<int>("--max-tokens") { Description = "Completion tokens at most.", DefaultValueFactory = _ => d.MaxTokens };
        var seed = new Option<int>("--seed") { Description = "Sampling seed.", DefaultValueFactory = _ => d.Seed };
        var show = new Option<int>("--show") { Description = "Print the first sample of the first N problems.", DefaultValueFactory = _ => 0 };
        var output = Options.Out("Also write the scores as JSON to this file.", required: false);
        var device = Options.Device();
        var cmd = new Command("eval", "pass@1 and pass@k on held-out problems that never overlap the training prompts.")
            { model, task, k, samples, count, trainPrompts, temperature, topP, maxTokens, seed, show, output, device };
        cmd.SetAction(p => SeekApp.Guard(() =>
        {
            var n = p.GetValue(temperature) == 0 ? 1 : p.GetValue(samples);
            var o = new EvalOptions(p.GetValue(samples), p.GetValue(k) ?? Math.Clamp(n, 1, d.K), p.GetValue(temperature), p.GetValue(topP), p.GetValue(maxTokens), p.GetValue(seed));
            var r = Evaluation.RunFolder(p.GetValue(model)!, p.GetValue(task)!, p.GetValue(count), p.GetValue(trainPrompts) ?? [], o, device: p.GetValue(device)!);
            foreach (var (prompt, completion, expected, correct) in r.Examples.Take(p.GetValue(show)))
                AnsiConsole.Write(new Panel(new Text($"{prompt}\n→ {completion}")).Header($"{(correct ? "correct" : "wrong")}; expected {expected}").Expand());
            var t = new Table().AddColumns("problems", "samples", "pass@1", $"pass@{r.K}", "format", "mean tokens", "seconds");
            t.AddRow($"{r.Problems}", $"{r.Samples}", $"{r.PassAt1:P1}", $"{r.PassAtK:P1}", $"{r.FormatRate:P1}", $"{r.MeanTokens:F1}", $"{r.Seconds:F0}");
            AnsiConsole.Write(t);
            AnsiConsole.MarkupLineInterpolated($"[grey]{(o.Greedy ? "greedy decoding" : $"temperature {o.Temperature}, top-p {o.TopP}")}; held-out set checked against the model's training prompts: no overlap[/]");
            if (p.GetValue(output) is { } path) AtomicFile.WriteAllText(path, JsonSerializer.Serialize(r, new JsonSerializerOptions { WriteIndented = true }));
            return 0;
        }));
        return cmd;
    }
}
