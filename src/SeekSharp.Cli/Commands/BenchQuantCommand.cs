using System.CommandLine;
using System.Text.Json;
using SeekSharp.Compression;
using Spectre.Console;

namespace SeekSharp.Cli.Commands;

/// <summary>`seek bench quant`: µs per call and weight GB/s of bf16/fp32 linear vs the Q8_0/Q4_0 kernels at decode shapes.</summary>
public static class BenchQuantCommand
{
    public static Command Create()
    {
        var rows = new Option<string>("--m") { Description = "Rows of x (sequences decoded together), separated by commas.", DefaultValueFactory = _ => "1,8" };
        var shapes = new Option<string?>("--shapes") { Description = "Weight shapes N x K (out x in), e.g. 384x384,4096x384; default: the presets' decode shapes." };
        var rounds = new Option<int>("--rounds") { Description = "Interleaved rounds per shape (the median is reported).", DefaultValueFactory = _ => 7 };
        var json = new Option<bool>("--json") { Description = "Print one JSON object per line instead of a table." };
        var cmd = new Command("quant", "Benchmark quantized matmul kernels (q8_0, q4_0, libtorch int8/int4 pack) against bf16 linear.") { rows, shapes, rounds, json };
        cmd.SetAction(p => SeekApp.Guard(() =>
        {
            var ms = p.GetValue(rows)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(s => int.TryParse(s, out var m) && m >= 1 ? m : throw new SeekSharpException($"--m: '{s}' is not a row count of 1 or more.")).ToArray();
            if (ms.Length == 0) throw new SeekSharpException("--m: expected at least one row count.");
            var list = p.GetValue(shapes) is { } text ? text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(ParseShape).ToArray() : QuantBenchmark.DefaultShapes;
            if (list.Length == 0) throw new SeekSharpException("--shapes: expected at least one NxK shape.");
            if (p.GetValue(rounds) < 1) throw new SeekSharpException($"--rounds: expected 1 or more, got {p.GetValue(rounds)}.");
            bool asJson = p.GetValue(json);
            var results = QuantBenchmark.Run(list, ms, p.GetValue(rounds), asJson ? null : m => AnsiConsole.MarkupLineInterpolated($"[grey]{m}...[/]"));
            if (asJson)
            {
                foreach (var r in results) Console.WriteLine(JsonSerializer.Serialize(r, JsonOptions));
                return 0;
            }
            var t = new Table().AddColumns("shape N x K", "M", "route", "µs/call median", "µs best", "weight MB", "GB/s (best)", "speed vs bf16 (best)");
            foreach (var r in results)
                t.AddRow(r.Shape, $"{r.M}", r.Route, $"{r.MicrosPerCall:F1}", $"{r.BestMicros:F1}", $"{r.WeightBytes / 1e6:F3}", $"{r.GigabytesPerSecond:F1}", $"{r.SpeedupVsBf16:F2}x");
            AnsiConsole.Write(t);
            var (q8, q4) = QuantBenchmark.EncodeSeconds(30_000_000);
            AnsiConsole.MarkupLineInterpolated($"[grey]encoding 30M parameters: q8_0 {q8:F2} s, q4_0 {q4:F2} s; {Environment.ProcessorCount} cores, AVX-VNNI {System.Runtime.Intrinsics.X86.AvxVnni.IsSupported}; speed > 1x means faster than bf16 linear in this run[/]");
            return 0;
        }));
        return cmd;
    }

    static (long N, long K) ParseShape(string s)
    {
        var parts = s.Split('x');
        if (parts.Length == 2 && long.TryParse(parts[0], out var n) && long.TryParse(parts[1], out var k) && n >= 1 && k >= 32 && k % 32 == 0) return (n, k);
        throw new SeekSharpException($"--shapes: '{s}' is not N x K with K a multiple of 32 (e.g. 384x1024).");
    }

    static readonly JsonSerializerOptions JsonOptions = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };
}
