using System.CommandLine;
using System.Text.Json;
using SeekSharp.Modeling;
using SeekSharp.Training;
using Spectre.Console;

namespace SeekSharp.Cli.Commands;

/// <summary>`seek bench train`: tokens/s, ms/step and utilization of the real training step.</summary>
public static class BenchCommand
{
    public static Command Create()
    {
        var preset = new Option<string>("--preset") { Description = $"Model preset, or several separated by commas to compare them in one run: {string.Join(", ", Presets.Names)}.", DefaultValueFactory = _ => "small-dense" };
        var rounds = new Option<int>("--rounds") { Description = "Repeat the whole set this many times, alternating presets (noisy machines).", DefaultValueFactory = _ => 1 };
        var steps = new Option<int>("--steps") { Description = "Timed steps per precision.", DefaultValueFactory = _ => 10 };
        var warmup = new Option<int>("--warmup") { Description = "Untimed steps first.", DefaultValueFactory = _ => 2 };
        var batch = new Option<int>("--batch-size") { Description = "Sequences per step.", DefaultValueFactory = _ => 16 };
        var precision = new Option<string>("--precision") { Description = "both (fp32 and bf16), or some of bf16, fp32, fp8 separated by commas, run in that order each round.", DefaultValueFactory = _ => "both" };
        var json = new Option<bool>("--json") { Description = "Print one JSON object per line instead of a table." };
        var device = Options.Device();
        var train = new Command("train", "Benchmark training throughput against the measured matmul peak.") { preset, rounds, steps, warmup, batch, precision, json, device };
        train.SetAction(p => SeekApp.Guard(() =>
        {
            var names = p.GetValue(preset)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            var configs = names.Select(n => (Name: n, Config: Presets.Get(n))).ToList();
            int roundCount = p.GetValue(rounds);
            if (roundCount < 1) throw new SeekSharpException($"--rounds: expected 1 or more, got {roundCount}.");
            bool asJson = p.GetValue(json);
            if (!asJson) AnsiConsole.MarkupLine("[grey]measuring matmul peaks (2048^3)...[/]");
            var (fp32, bf16) = TrainBenchmark.MeasurePeaks();
            var which = p.GetValue(precision) == "both" ? ["fp32", "bf16"]
                : p.GetValue(precision)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            if (which.Length == 0 || which.Any(w => !TrainingPrecision.Names.Contains(w)))
                throw new SeekSharpException($"--precision: expected both, or some of bf16, fp32, fp8 separated by commas, got \"{p.GetValue(precision)}\".");
            var results = new List<TrainBenchResult>();
            for (int round = 1; round <= roundCount; round++)
                foreach (var (name, cfg) in configs)
                    foreach (var prec in which)
                    {
                        if (!asJson) AnsiConsole.MarkupLineInterpolated($"[grey]round {round}: {name} {prec}: {p.GetValue(warmup)} warmup + {p.GetValue(steps)} timed steps...[/]");
                        var r = TrainBenchmark.Run(name, cfg, prec, p.GetValue(steps), p.GetValue(warmup), p.GetValue(batch), prec == "fp32" ? fp32 : bf16, p.GetValue(device)!) with { Round = round };
                        results.Add(r);
                        if (asJson) Console.WriteLine(JsonSerializer.Serialize(r, JsonOptions));
                    }
            if (!asJson)
            {
                var t = new Table().AddColumns("round", "preset", "dtype", "tok/s", "ms/step", "GFLOP/tok", "GFLOP/s", "peak", "util");
                foreach (var r in results)
                    t.AddRow($"{r.Round}", r.Preset, r.Precision, $"{r.TokensPerSecond:N0}", $"{r.MsPerStep:F0}", $"{r.TrainingFlopsPerToken / 1e9:F3}",
                        $"{r.AchievedGflops:F1}", $"{r.PeakGflops:F1}", $"{r.Utilization:P1}");
                AnsiConsole.Write(t);
                AnsiConsole.MarkupLineInterpolated($"[grey]batch {results[0].BatchSize} x {results[0].SeqLen} tokens; malloc tunables {(results[0].MallocTuned ? "on" : "off")}[/]");
                foreach (var r in results.Where(r => r.Fp8Saved is not null).DistinctBy(r => r.Preset))
                {
                    var f = r.Fp8Saved!;
                    AnsiConsole.MarkupLineInterpolated(
                        $"{r.Preset} fp8: Linear inputs saved for backward per step: {f.Tensors} tensors, {f.StoredBytes / 1048576.0:F1} MiB in bf16; as E4M3 codes + fp32 scales per 1x128 tile {f.Fp8Bytes / 1048576.0:F1} MiB ({f.SavedBytes / 1048576.0:F1} MiB, {(double)f.SavedBytes / f.StoredBytes:P1} less)");
                }
                if (configs.Count > 1 || roundCount > 1)
                {
                    var s = new Table().AddColumns("preset", "dtype", "rounds", "mean tok/s", $"vs {configs[0].Name}");
                    foreach (var m in TrainBenchmark.Summarize(results))
                        s.AddRow(m.Preset, m.Precision, $"{m.Rounds}", $"{m.MeanTokensPerSecond:N0}", $"{m.RatioToFirst:F2}x");
                    AnsiConsole.Write(s);
                }
            }
            return 0;
        }));
        return new Command("bench", "Benchmarks.") { train, BenchDataCommand.Create(), BenchEngineCommand.Create(), BenchLlamaCommand.Create(), BenchQuantCommand.Create(), BenchRaceCommand.Create(), BenchSelectCommand.Create(), BenchServeCommand.Create(), BenchDilocoCommand.Create(), BenchPipelineCommand.Create() };
    }

    static readonly JsonSerializerOptions JsonOptions = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };
}
