using System.CommandLine;
using System.Text.Json;
using SeekSharp.Modeling;
using SeekSharp.Serving;
using Spectre.Console;
using TorchSharp;
using static TorchSharp.torch;

namespace SeekSharp.Cli.Commands;

/// <summary>`seek bench engine`: aggregate decode tokens/s of the batching engine by number of concurrent requests.</summary>
public static class BenchEngineCommand
{
    public static Command Create()
    {
        var preset = new Option<string>("--preset") { Description = $"Model preset (random weights): {string.Join(", ", Presets.Names)}.", DefaultValueFactory = _ => "small" };
        var clients = new Option<string>("--clients") { Description = "Concurrent requests to compare, separated by commas; the first is the baseline.", DefaultValueFactory = _ => "1,8" };
        var tokens = new Option<int>("--tokens") { Description = "Tokens each request generates.", DefaultValueFactory = _ => 64 };
        var promptTokens = new Option<int>("--prompt-tokens") { Description = "Prompt length of each request.", DefaultValueFactory = _ => 16 };
        var rounds = new Option<int>("--rounds") { Description = "Repeat the set this many times, alternating client counts.", DefaultValueFactory = _ => 2 };
        var precision = new Option<string>("--precision") { Description = "Compute dtype: bf16 or fp32.", DefaultValueFactory = _ => "bf16" };
        precision.AcceptOnlyFromAmong("bf16", "fp32");
        var maxBatch = new Option<int>("--max-batch") { Description = "Engine slots (sequences decoded together).", DefaultValueFactory = _ => 32 };
        var json = new Option<bool>("--json") { Description = "Print one JSON object per line instead of a table." };
        var groupPrefill = ServeCommand.GroupPrefillOption();
        var device = Options.Device();
        var cmd = new Command("engine", "Benchmark the serving engine in process: decode tokens/s by concurrent requests.")
            { preset, clients, tokens, promptTokens, rounds, precision, maxBatch, groupPrefill, json, device };
        cmd.SetAction(p => SeekApp.Guard(() =>
        {
            var counts = p.GetValue(clients)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(s => int.TryParse(s, out var n) && n >= 1 ? n : throw new SeekSharpException($"--clients: '{s}' is not a count of 1 or more.")).ToArray();
            if (counts.Length == 0) throw new SeekSharpException("--clients: expected at least one count.");
            if (p.GetValue(rounds) < 1) throw new SeekSharpException($"--rounds: expected 1 or more, got {p.GetValue(rounds)}.");
            bool asJson = p.GetValue(json);
            var cfg = Presets.Get(p.GetValue(preset)!);
            using var model = new Transformer(cfg, seed: 0);
            model.to(new Device(p.GetValue(device)!));
            model.eval();
            model.SetComputeType(Transformer.ComputeTypeOf(p.GetValue(precision)!));
            using var engine = new GenerationEngine(model, new EngineOptions { MaxBatchSize = p.GetValue(maxBatch), GroupPrefill = p.GetValue(groupPrefill) });
            var results = EngineBenchmark.Run(engine, counts, p.GetValue(tokens), p.GetValue(promptTokens), p.GetValue(rounds),
                asJson ? null : m => AnsiConsole.MarkupLineInterpolated($"[grey]{m}...[/]"));
            if (asJson)
            {
                foreach (var r in results) Console.WriteLine(JsonSerializer.Serialize(r, JsonOptions));
                return 0;
            }
            var t = new Table().AddColumns("round", "clients", "tokens", "seconds", "tok/s", "decode tok/s", "mean batch", "decode ms/step", "CPU ms/token");
            foreach (var r in results)
                t.AddRow($"{r.Round}", $"{r.Clients}", $"{r.Tokens}", $"{r.Seconds:F2}", $"{r.TokensPerSecond:F1}", $"{r.DecodeTokensPerSecond:F1}",
                    $"{r.MeanBatch:F1}", $"{r.MsPerStep:F1}", $"{r.CpuMsPerToken:F1}");
            AnsiConsole.Write(t);
            var s = new Table().AddColumns("clients", "mean tok/s", $"vs {counts[0]}", "mean decode tok/s", $"vs {counts[0]}");
            var first = results.Where(r => r.Clients == counts[0]).ToList();
            double baseline = first.Average(r => r.TokensPerSecond), decodeBaseline = first.Average(r => r.DecodeTokensPerSecond);
            foreach (var c in counts.Distinct())
            {
                var these = results.Where(r => r.Clients == c).ToList();
                double mean = these.Average(r => r.TokensPerSecond), decode = these.Average(r => r.DecodeTokensPerSecond);
                s.AddRow($"{c}", $"{mean:F1}", $"{mean / baseline:F2}x", $"{decode:F1}", $"{decode / decodeBaseline:F2}x");
            }
            AnsiConsole.Write(s);
            AnsiConsole.MarkupLineInterpolated($"[grey]{cfg.Preset}, {p.GetValue(precision)}, random weights, greedy; prompt {p.GetValue(promptTokens)} tokens (prefill included in the time); {Environment.ProcessorCount} cores[/]");
            return 0;
        }));
        return cmd;
    }

    static readonly JsonSerializerOptions JsonOptions = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };
}
