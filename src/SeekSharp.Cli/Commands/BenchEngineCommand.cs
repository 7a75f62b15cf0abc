using System.CommandLine;
using System.Text.Json;
using SeekSharp.Checkpoints;
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
        var preset = new Option<string?>("--preset") { Description = $"Model preset of random weights (small when neither --preset nor --model is given): {string.Join(", ", Presets.Names)}." };
        var model = new Option<string?>("--model") { Description = "Model folder to benchmark instead of a preset's random weights (config.json, model.safetensors)." };
        var clients = new Option<string>("--clients") { Description = "Concurrent requests to compare, separated by commas; the first is the baseline.", DefaultValueFactory = _ => "1,8" };
        var tokens = new Option<int>("--tokens") { Description = "Tokens each request generates.", DefaultValueFactory = _ => 64 };
        var promptTokens = new Option<int>("--prompt-tokens") { Description = "Prompt length of each request.", DefaultValueFactory = _ => 16 };
        var rounds = new Option<int>("--rounds") { Description = "Repeat the set this many times, alternating client counts.", DefaultValueFactory = _ => 2 };
        var precision = new Option<string>("--precision") { Description = "Compute dtype: bf16 or fp32.", DefaultValueFactory = _ => "bf16" };
        precision.AcceptOnlyFromAmong("bf16", "fp32");
        var maxBatch = new Option<int>("--max-batch") { Description = "Engine slots (sequences decoded together).", DefaultValueFactory = _ => 32 };
        var json = new Option<bool>("--json") { Description = "Print one JSON object per line instead of a table." };
        var groupPrefill = ServeCommand.GroupPrefillOption();
        var speculative = ServeCommand.SpeculativeOption();
        var device = Options.Device();
        var cmd = new Command("engine", "Benchmark the serving engine in process: decode tokens/s by concurrent requests.")
            { preset, model, clients, tokens, promptTokens, rounds, precision, maxBatch, groupPrefill, speculative, json, device };
        cmd.SetAction(p => SeekApp.Guard(() =>
        {
            var counts = p.GetValue(clients)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(s => int.TryParse(s, out var n) && n >= 1 ? n : throw new SeekSharpException($"--clients: '{s}' is not a count of 1 or more.")).ToArray();
            if (counts.Length == 0) throw new SeekSharpException("--clients: expected at least one count.");
            if (p.GetValue(rounds) < 1) throw new SeekSharpException($"--rounds: expected 1 or more, got {p.GetValue(rounds)}.");
            bool asJson = p.GetValue(json);
            using var m = Model(p.GetValue(preset), p.GetValue(model), p.GetValue(device)!, out string what);
            var cfg = m.Config;
            m.SetComputeType(Transformer.ComputeTypeOf(p.GetValue(precision)!));
            m.Freeze().ReleaseMasters(); // as `seek serve` holds it
            using var engine = new GenerationEngine(m, new EngineOptions { MaxBatchSize = p.GetValue(maxBatch), GroupPrefill = p.GetValue(groupPrefill), Speculative = p.GetValue(speculative) == "on" });
            var results = EngineBenchmark.Run(engine, counts, p.GetValue(tokens), p.GetValue(promptTokens), p.GetValue(rounds),
                asJson ? null : m => AnsiConsole.MarkupLineInterpolated($"[grey]{m}...[/]"));
            if (asJson)
            {
                foreach (var r in results) Console.WriteLine(JsonSerializer.Serialize(r, JsonOptions));
                return 0;
            }
            var t = new Table().AddColumns("round", "clients", "tokens", "seconds", "tok/s", "decode tok/s", "mean batch", "decode ms/step", "CPU ms/token", "accepted");
            foreach (var r in results)
                t.AddRow($"{r.Round}", $"{r.Clients}", $"{r.Tokens}", $"{r.Seconds:F2}", $"{r.TokensPerSecond:F1}", $"{r.DecodeTokensPerSecond:F1}",
                    $"{r.MeanBatch:F1}", $"{r.MsPerStep:F1}", $"{r.CpuMsPerToken:F1}", r.AcceptanceRate is { } a ? $"{a:P1}" : "-");
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
            AnsiConsole.MarkupLineInterpolated($"[grey]{what}, {p.GetValue(precision)}, greedy, speculative {(m.MtpDepth > 0 && p.GetValue(speculative) == "on" ? "on (MTP drafts; accepted = drafts kept)" : "off")}; prompt {p.GetValue(promptTokens)} tokens (prefill included in the time); {Environment.ProcessorCount} cores[/]");
            return 0;
        }));
        return cmd;
    }

    /// <summary>The model to benchmark: a folder (--model) or a preset's random weights (--preset, small by default);
    /// not both. <paramref name="what"/> says which, for the footer.</summary>
    internal static Transformer Model(string? preset, string? folder, string device, out string what)
    {
        if (preset is not null && folder is not null)
            throw new SeekSharpException("--preset and --model: expected one of them (a preset's random weights or a model folder), got both.");
        if (folder is not null)
        {
            var loaded = ModelFiles.Load(folder, new Device(device));
            loaded.eval();
            what = $"{folder} ({loaded.Config.Preset ?? "custom"} shape)";
            return loaded;
        }
        var cfg = Presets.Get(preset ?? "small");
        var model = new Transformer(cfg, seed: 0);
        model.to(new Device(device));
        model.eval();
        what = $"{cfg.Preset}, random weights";
        return model;
    }

    static readonly JsonSerializerOptions JsonOptions = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };
}
