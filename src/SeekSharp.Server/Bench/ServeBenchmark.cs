using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace SeekSharp.Server.Bench;

// A load generator that speaks the public API like any client: each of N clients sends streaming chat
// requests back to back (stream_options.include_usage, so completion tokens come from the server's own
// usage), until M requests are done in total or the duration is over. Time to first token is measured to
// the first chunk carrying text; latency to the end of the stream. Throughput is completion tokens of all
// requests divided by the run's wall time: the aggregate decode rate clients experience.

/// <summary>One request as the client saw it.</summary>
public sealed record ServeBenchRequest(int Clients, int Client, int Status, double LatencySeconds, double? TimeToFirstTokenSeconds,
    int CompletionTokens, string? Error);

/// <summary>One run at a given concurrency.</summary>
public sealed record ServeBenchResult(int Clients, int Requests, int Failures, double WallSeconds, long CompletionTokens,
    double TokensPerSecond, double TtftP50, double TtftP99, double LatencyP50, double LatencyP99)
{
    /// <summary>Aggregate tokens/s relative to the first run of the set (1.0 for the first).</summary>
    public double RatioToFirst { get; init; } = 1;

    /// <summary>Mean sequences per batched decode step during the run, when the engine is in-process.</summary>
    public double? MeanBatch { get; init; }
}

/// <summary>Drives a server with concurrent streaming chat requests.</summary>
public sealed class ServeBenchmark(HttpClient http, string model, string? apiKey = null)
{
    static readonly string[] Topics = ["the sea", "numbers", "a small town", "the weather", "trains", "music", "a garden", "the moon"];

    /// <param name="requests">total requests of the run (ignored when <paramref name="duration"/> is set)</param>
    /// <param name="duration">run for this long instead; requests in flight at the end are completed</param>
    public async Task<ServeBenchResult> RunAsync(int clients, int requests, TimeSpan? duration, int maxTokens,
        Action<ServeBenchRequest>? onRequest = null, CancellationToken ct = default)
    {
        if (clients < 1) throw new SeekSharpException($"--clients: expected 1 or more, got {clients}.");
        if (requests < 1 && duration is null) throw new SeekSharpException($"--requests: expected 1 or more, got {requests}.");
        if (maxTokens < 1) throw new SeekSharpException($"--max-tokens: expected 1 or more, got {maxTokens}.");
        var results = new List<ServeBenchRequest>();
        int issued = 0;
        var clock = Stopwatch.StartNew();
        bool More() => duration is { } d ? clock.Elapsed < d : Interlocked.Increment(ref issued) <= requests;
        var workers = Enumerable.Range(0, clients).Select(c => Task.Run(async () =>
        {
            for (int k = 0; More(); k++)
            {
                var r = await OneAsync(clients, c, $"Tell me about {Topics[(c + k) % Topics.Length]}, part {k}.", maxTokens, ct);
                lock (results) results.Add(r);
                onRequest?.Invoke(r);
            }
        }, ct)).ToList();
        await Task.WhenAll(workers);
        double wall = clock.Elapsed.TotalSeconds;
        var ok = results.Where(r => r.Error is null).ToList();
        long tokens = ok.Sum(r => (long)r.CompletionTokens);
        var ttft = ok.Where(r => r.TimeToFirstTokenSeconds is not null).Select(r => r.TimeToFirstTokenSeconds!.Value).ToList();
        var latency = ok.Select(r => r.LatencySeconds).ToList();
        return new ServeBenchResult(clients, results.Count, results.Count - ok.Count, wall, tokens, tokens / wall,
            Percentile(ttft, 0.50), Percentile(ttft, 0.99), Percentile(latency, 0.50), Percentile(latency, 0.99));
    }

    async Task<ServeBenchRequest> OneAsync(int clients, int client, string prompt, int maxTokens, CancellationToken ct)
    {
        var body = JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["model"] = model,
            ["messages"] = new[] { new Dictionary<string, string> { ["role"] = "user", ["content"] = prompt } },
            ["max_tokens"] = maxTokens,
            ["stream"] = true,
            ["stream_options"] = new Dictionary<string, bool> { ["include_usage"] = true },
        });
        var start = Stopwatch.GetTimestamp();
        double? ttft = null;
        int tokens = 0, status = 0;
        bool done = false;
        try
        {
            using var req = new HttpRequestMessage(HttpMethod.Post, "v1/chat/completions") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
            if (apiKey is not null) req.Headers.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
            using var res = await http.SendAsync(req, HttpCompletionOption.ResponseHeadersRead, ct);
            status = (int)res.StatusCode;
            if (!res.IsSuccessStatusCode)
                return new(clients, client, status, Stopwatch.GetElapsedTime(start).TotalSeconds, null, 0, $"HTTP {status}: {await res.Content.ReadAsStringAsync(ct)}");
            using var reader = new StreamReader(await res.Content.ReadAsStreamAsync(ct));
            while (await reader.ReadLineAsync(ct) is { } line)
            {
                if (!line.StartsWith("data: ", StringComparison.Ordinal)) continue;
                var data = line.AsMemory(6);
                if (data.Span.SequenceEqual("[DONE]")) { done = true; break; }
                using var doc = JsonDocument.Parse(data);
                var root = doc.RootElement;
                if (root.TryGetProperty("error", out var err))
                    return new(clients, client, status, Stopwatch.GetElapsedTime(start).TotalSeconds, ttft, 0, err.GetProperty("message").GetString());
                if (ttft is null && root.GetProperty("choices").EnumerateArray().Any(HasText))
                    ttft = Stopwatch.GetElapsedTime(start).TotalSeconds;
                if (root.TryGetProperty("usage", out var u) && u.ValueKind == JsonValueKind.Object)
                    tokens = u.GetProperty("completion_tokens").GetInt32();
            }
        }
        catch (Exception e) when (e is HttpRequestException or IOException or JsonException or KeyNotFoundException or InvalidOperationException)
        {
            return new(clients, client, status, Stopwatch.GetElapsedTime(start).TotalSeconds, ttft, 0, e.Message);
        }
        double latency = Stopwatch.GetElapsedTime(start).TotalSeconds;
        return new(clients, client, status, latency, ttft, tokens, done ? null : "stream ended without [DONE]");
    }

    static bool HasText(JsonElement choice) =>
        choice.TryGetProperty("delta", out var d)
        && ((d.TryGetProperty("content", out var c) && c.GetString() is { Length: > 0 })
            || (d.TryGetProperty("reasoning_content", out var r) && r.GetString() is { Length: > 0 }));

    /// <summary>Nearest-rank percentile; NaN for no values.</summary>
    public static double Percentile(IReadOnlyList<double> values, double q)
    {
        if (values.Count == 0) return double.NaN;
        var sorted = values.Order().ToArray();
        int rank = (int)Math.Ceiling(q * sorted.Length);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Length - 1)];
    }
}
