using System.CommandLine;
using System.Text.Json;
using SeekSharp.Ledger;
using SeekSharp.Server;
using SeekSharp.Server.Bench;
using SeekSharp.Serving;
using Spectre.Console;

namespace SeekSharp.Cli.Commands;

/// <summary>`seek bench serve`: concurrent streaming chat clients against the server, in-process on loopback or at --url.</summary>
public static class BenchServeCommand
{
    public static Command Create()
    {
        var model = new Option<string?>("--model") { Description = "Model folder to serve in-process on a loopback port (or give --url)." };
        var url = new Option<string?>("--url") { Description = "Benchmark a running server instead, e.g. http://127.0.0.1:8000." };
        var apiKey = new Option<string?>("--api-key") { Description = "Bearer key for a --url server that requires one." };
        var clients = new Option<string>("--clients") { Description = "Concurrent clients; several separated by commas run in turn, the first being the baseline (repeat them, e.g. 1,8,1,8, to average alternating runs).", DefaultValueFactory = _ => "1,8" };
        var requests = new Option<int>("--requests") { Description = "Requests per run, over all clients.", DefaultValueFactory = _ => 32 };
        var duration = new Option<double?>("--duration") { Description = "Seconds per run instead of a request count." };
        var maxTokens = new Option<int>("--max-tokens") { Description = "max_tokens of each request.", DefaultValueFactory = _ => 64 };
        var output = new Option<string>("--out") { Description = "JSONL file: one line per request and one summary per run.", DefaultValueFactory = _ => "bench_serve.jsonl" };
        var device = Options.Device();
        var precision = ServeCommand.PrecisionOption();
        var maxBatch = ServeCommand.MaxBatchOption();
        var cmd = new Command("serve", "Benchmark the HTTP server: throughput, time to first token and latency under concurrent streaming clients.")
            { model, url, apiKey, clients, requests, duration, maxTokens, output, device, precision, maxBatch };
        cmd.SetAction(p => SeekApp.Guard(() =>
        {
            var counts = ParseClients(p.GetValue(clients)!);
            if (p.GetValue(duration) is { } d && !(d > 0)) throw new SeekSharpException($"--duration: expected seconds > 0, got {d}.");
            if ((p.GetValue(model) is null) == (p.GetValue(url) is null)) throw new SeekSharpException("--model or --url: give exactly one.");
            ServedModel? served = null;
            Microsoft.AspNetCore.Builder.WebApplication? app = null;
            try
            {
                string baseUrl;
                if (p.GetValue(model) is { } dir)
                {
                    served = ServedModel.Load(dir, null, p.GetValue(device)!, p.GetValue(precision)!, new EngineOptions { MaxBatchSize = p.GetValue(maxBatch) });
                    app = SeekServer.Build(served, new ServerOptions(), "127.0.0.1", 0);
                    baseUrl = ServeCommand.Start(app, "127.0.0.1", 0);
                    AnsiConsole.MarkupLineInterpolated($"[grey]serving {served.Id} in-process at {baseUrl} ({p.GetValue(precision)}, batch up to {p.GetValue(maxBatch)}, {Environment.ProcessorCount} cores)[/]");
                }
                else baseUrl = p.GetValue(url)!.TrimEnd('/');
                Run(baseUrl, p.GetValue(apiKey), served, counts, p.GetValue(requests), p.GetValue(duration), p.GetValue(maxTokens), p.GetValue(output)!).GetAwaiter().GetResult();
            }
            finally
            {
                if (app is not null) app.StopAsync().GetAwaiter().GetResult();
                served?.Dispose();
            }
            return 0;
        }));
        return cmd;
    }

    static async Task Run(string baseUrl, string? key, ServedModel? served, int[] counts, int requests, double? seconds, int maxTokens, string outPath)
    {
        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 1024 }) { BaseAddress = new Uri(baseUrl + "/"), Timeout = TimeSpan.FromMinutes(10) };
        string modelId = served?.Id ?? await ModelIdAsync(http, key);
        var bench = new ServeBenchmark(http, modelId, key);
        var warm = await bench.RunAsync(1, 1, null, Math.Min(maxTokens, 8)); // JIT, allocator and caches, untimed
        if (warm.Failures > 0) throw new SeekSharpException($"{baseUrl}: the warm-up request failed; is the server up and the key right?");
        using var log = MetricsLog.Open(outPath);
        var results = new List<ServeBenchResult>();
        var duration = seconds is { } s ? TimeSpan.FromSeconds(s) : (TimeSpan?)null;
        await AnsiConsole.Progress().AutoClear(true).StartAsync(async ctx =>
        {
            foreach (var n in counts)
            {
                var task = ctx.AddTask($"{n} client(s)", maxValue: duration is null ? requests : 1);
                var before = served?.Engine.Stats();
                using var ticker = duration is { } d ? new Timer(_ => task.Value = Math.Min(1, task.Value + 0.5 / d.TotalSeconds), null, 500, 500) : null;
                var r = await bench.RunAsync(n, requests, duration, maxTokens, req =>
                {
                    if (duration is null) task.Increment(1);
                    log.Append(new Dictionary<string, object?>
                    {
                        ["type"] = "request", ["clients"] = req.Clients, ["client"] = req.Client, ["status"] = req.Status,
                        ["latency_s"] = req.LatencySeconds, ["ttft_s"] = req.TimeToFirstTokenSeconds, ["completion_tokens"] = req.CompletionTokens, ["error"] = req.Error,
                    });
                });
                task.Value = task.MaxValue;
                if (before is not null && served!.Engine.Stats() is var after && after.DecodeSteps > before.DecodeSteps)
                    r = r with { MeanBatch = (double)(after.DecodeRows - before.DecodeRows) / (after.DecodeSteps - before.DecodeSteps) };
                r = r with { RatioToFirst = results.Count == 0 ? 1 : r.TokensPerSecond / results[0].TokensPerSecond };
                results.Add(r);
                log.Append(new Dictionary<string, object?> { ["type"] = "summary", ["result"] = JsonSerializer.SerializeToElement(r, Json) });
            }
        });
        // Fits 80 columns (pipes, CI logs); completion token counts are in the JSONL.
        var t = new Table().AddColumns("clients", "requests", "failed", "tok/s", "ratio", "batch", "TTFT ms p50/p99", "latency s p50/p99");
        foreach (var r in results)
            t.AddRow($"{r.Clients}", $"{r.Requests}", r.Failures == 0 ? "0" : $"[red]{r.Failures}[/]", $"{r.TokensPerSecond:N1}",
                $"{r.RatioToFirst:F2}x", r.MeanBatch is { } b ? $"{b:F1}" : "-", $"{Ms(r.TtftP50)}/{Ms(r.TtftP99)}", $"{Sec(r.LatencyP50)}/{Sec(r.LatencyP99)}");
        AnsiConsole.Write(t);
        if (counts.Distinct().Count() < counts.Length) // repeated counts alternate on a noisy machine: compare their means
        {
            var means = results.GroupBy(r => r.Clients).Select(g => (Clients: g.Key, Runs: g.Count(), Mean: g.Average(r => r.TokensPerSecond))).ToList();
            var m = new Table().AddColumns("clients", "runs", "mean tok/s", $"vs {means[0].Clients}");
            foreach (var g in means) m.AddRow($"{g.Clients}", $"{g.Runs}", $"{g.Mean:N1}", $"{g.Mean / means[0].Mean:F2}x");
            AnsiConsole.Write(m);
        }
        AnsiConsole.MarkupLineInterpolated($"per-request lines and summaries: {Path.GetFullPath(outPath)}");
        AnsiConsole.MarkupLineInterpolated($"[grey]{modelId}: streaming chat, max_tokens {maxTokens}, {(duration is { } dd ? $"{dd.TotalSeconds:0} s per run" : $"{requests} requests per run")}; tok/s = completion tokens / wall time, ratio = tok/s / the first run's, batch = mean sequences per decode step[/]");
    }

    static async Task<string> ModelIdAsync(HttpClient http, string? key)
    {
        using var req = new HttpRequestMessage(HttpMethod.Get, "v1/models");
        if (key is not null) req.Headers.Authorization = new("Bearer", key);
        try
        {
            using var res = await http.SendAsync(req);
            res.EnsureSuccessStatusCode();
            using var doc = JsonDocument.Parse(await res.Content.ReadAsStringAsync());
            return doc.RootElement.GetProperty("data")[0].GetProperty("id").GetString()!;
        }
        catch (Exception e) when (e is HttpRequestException or JsonException or KeyNotFoundException)
        {
            throw new SeekSharpException($"--url {http.BaseAddress}: GET /v1/models failed ({e.Message}).", e);
        }
    }

    static int[] ParseClients(string s)
    {
        var parts = s.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var counts = parts.Select(x => int.TryParse(x, out var n) && n >= 1 && n <= 4096 ? n
            : throw new SeekSharpException($"--clients: expected whole numbers from 1 to 4096 separated by commas, got \"{s}\".")).ToArray();
        return counts.Length > 0 ? counts : throw new SeekSharpException("--clients: expected at least one number.");
    }

    static string Ms(double s) => double.IsNaN(s) ? "-" : $"{s * 1000:N0}";
    static string Sec(double s) => double.IsNaN(s) ? "-" : $"{s:F2}";

    static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals };
}
