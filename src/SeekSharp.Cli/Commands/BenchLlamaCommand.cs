using System.CommandLine;
using System.Text.Json;
using SeekSharp.Serving;
using Spectre.Console;

namespace SeekSharp.Cli.Commands;

/// <summary>`seek bench llama`: single-stream decode tokens/s of llama.cpp (node-llama-cpp) and of SeekSharp's engine
/// on the same model folder, and their ratio.</summary>
public static class BenchLlamaCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Model folder llama.cpp can load once exported (an MLA model: tiny, small-mla, medium).", Required = true };
        var tokens = new Option<int>("--tokens") { Description = "Tokens each run generates (greedy; decode time excludes the prompt and first token).", DefaultValueFactory = _ => 64 };
        var promptTokens = new Option<int>("--prompt-tokens") { Description = "Prompt length.", DefaultValueFactory = _ => 16 };
        var threads = new Option<string>("--threads") { Description = "llama.cpp thread counts to try, separated by commas; the ratio uses the fastest.", DefaultValueFactory = _ => "1,2" };
        var rounds = new Option<int>("--rounds") { Description = "Rounds, alternating llama.cpp and SeekSharp; medians are compared.", DefaultValueFactory = _ => 3 };
        var type = new Option<string>("--type") { Description = "GGUF matrix type for llama.cpp; for q8_0/q4_0 SeekSharp runs a quantized copy of the same type, else bf16.", DefaultValueFactory = _ => "f16" };
        var json = new Option<bool>("--json") { Description = "Print one JSON object per run and one summary line instead of tables." };
        var cmd = new Command("llama", "Compare single-stream decode speed with llama.cpp (node-llama-cpp from tests/interop) on the same model.")
            { model, tokens, promptTokens, threads, rounds, type, json };
        cmd.SetAction(p => SeekApp.Guard(() =>
        {
            var counts = p.GetValue(threads)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(s => int.TryParse(s, out var n) && n >= 1 ? n : throw new SeekSharpException($"--threads: '{s}' is not a thread count of 1 or more.")).ToArray();
            if (counts.Length == 0) throw new SeekSharpException("--threads: expected at least one thread count.");
            bool asJson = p.GetValue(json);
            var r = LlamaCppBenchmark.Run(p.GetValue(model)!, p.GetValue(tokens), counts, p.GetValue(rounds), p.GetValue(promptTokens), p.GetValue(type)!,
                asJson ? null : m => AnsiConsole.MarkupLineInterpolated($"[grey]{m}...[/]"));
            if (asJson)
            {
                foreach (var run in r.Runs) Console.WriteLine(JsonSerializer.Serialize(run, JsonOptions));
                Console.WriteLine(JsonSerializer.Serialize(new
                {
                    llama_median = r.LlamaMedians.ToDictionary(kv => kv.Key.ToString(), kv => kv.Value), best_threads = r.BestThreads,
                    seeksharp_median = r.SeekSharpMedian, ratio = r.Ratio, type = r.Type, seeksharp_type = r.SeekSharpType,
                }, JsonOptions));
                return 0;
            }
            var t = new Table().AddColumns("round", "runner", "threads", "tokens", "decode tok/s");
            foreach (var run in r.Runs) t.AddRow($"{run.Round}", run.Runner, $"{run.Threads}", $"{run.Tokens}", $"{run.TokensPerSecond:F1}");
            AnsiConsole.Write(t);
            var s = new Table().AddColumns("runner", "median decode tok/s");
            foreach (var (th, m) in r.LlamaMedians) s.AddRow($"llama.cpp {r.Type}, {th} thread(s){(th == r.BestThreads ? " (best)" : "")}", $"{m:F1}");
            s.AddRow($"SeekSharp {r.SeekSharpType}", $"{r.SeekSharpMedian:F1}");
            AnsiConsole.Write(s);
            Console.WriteLine($"ratio SeekSharp / llama.cpp ({r.BestThreads} thread(s), its best): {r.Ratio:F2}x");
            AnsiConsole.MarkupLineInterpolated($"[grey]single stream, greedy, {p.GetValue(tokens)} tokens after a {p.GetValue(promptTokens)}-token prompt, medians of {p.GetValue(rounds)} round(s); {Environment.ProcessorCount} cores[/]");
            return 0;
        }));
        return cmd;
    }

    static readonly JsonSerializerOptions JsonOptions = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };
}
