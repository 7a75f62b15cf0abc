using System.Text.Json;
using static SeekSharp.Tests.Server.TestServing;

namespace SeekSharp.Tests.Server;

/// <summary>Text completions, models, health, metrics, the page, engine failures and client aborts.</summary>
public class EndpointTests
{
    [Fact]
    public async Task TextCompletionContinuesTheRawPromptAndKeepsSpecialTokensAsText()
    {
        var engine = Answering("<think>hm</think> go");
        using var factory = Factory(engine);
        var http = factory.CreateClient();
        var j = await JsonOf(await http.PostJson("/v1/completions", """{"model":"tiny","prompt":"once upon"}"""));
        Assert.Equal("text_completion", j.GetProperty("object").GetString());
        Assert.StartsWith("cmpl-", j.GetProperty("id").GetString());
        var c = j.GetProperty("choices")[0];
        Assert.Equal("<think>hm</think> go", c.GetProperty("text").GetString());
        Assert.Equal("stop", c.GetProperty("finish_reason").GetString());
        Assert.Equal([Tok.BosId, .. Tok.Encode("once upon")], engine.Submitted[0].Prompt);
        Assert.Equal(engine.Submitted[0].Prompt.Count, j.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());

        var res = await http.PostJson("/v1/completions", """{"model":"tiny","prompt":["once upon"],"stream":true,"stream_options":{"include_usage":true},"stop":"go"}""");
        var data = SseData(await res.Content.ReadAsStringAsync());
        Assert.Equal("[DONE]", data[^1]);
        var chunks = data[..^1].Select(d => JsonDocument.Parse(d).RootElement).ToList();
        Assert.All(chunks, ch => Assert.Equal("text_completion", ch.GetProperty("object").GetString()));
        Assert.Equal("<think>hm</think> ", string.Concat(chunks[..^1].SelectMany(ch => ch.GetProperty("choices").EnumerateArray()).Select(ch => ch.GetProperty("text").GetString())));
        Assert.Equal("stop", chunks[^2].GetProperty("choices")[0].GetProperty("finish_reason").GetString());
        Assert.True(chunks[^1].GetProperty("usage").GetProperty("total_tokens").GetInt32() > 0);
    }

    [Fact]
    public async Task ModelsHealthAndPage()
    {
        using var factory = Factory(Answering("x"));
        var http = factory.CreateClient();
        var models = await JsonOf(await http.GetAsync("/v1/models"));
        Assert.Equal("list", models.GetProperty("object").GetString());
        var card = Assert.Single(models.GetProperty("data").EnumerateArray().ToList());
        Assert.Equal("tiny", card.GetProperty("id").GetString());
        Assert.Equal("model", card.GetProperty("object").GetString());
        Assert.Equal(64, card.GetProperty("context_length").GetInt32());
        Assert.Equal("tiny", (await JsonOf(await http.GetAsync("/v1/models/tiny"))).GetProperty("id").GetString());
        var missing = await http.GetAsync("/v1/models/gpt-4");
        Assert.Equal(404, (int)missing.StatusCode);
        Assert.Equal("model_not_found", (await JsonOf(missing)).GetProperty("error").GetProperty("code").GetString());

        var health = await JsonOf(await http.GetAsync("/health"));
        Assert.Equal("ok", health.GetProperty("status").GetString());
        Assert.Equal(0, health.GetProperty("queued").GetInt32());

        var page = await http.GetAsync("/");
        Assert.Equal("text/html", page.Content.Headers.ContentType!.MediaType);
        var html = await page.Content.ReadAsStringAsync();
        Assert.Contains("<script src=\"/app.js\">", html);
        Assert.DoesNotContain("https://", html); // no CDN
        var js = await http.GetStringAsync("/app.js");
        Assert.Contains("/v1/chat/completions", js);
        Assert.Contains("reasoning_content", js);
        Assert.Contains("/v1/usage", js);
        Assert.Equal("text/css", (await http.GetAsync("/style.css")).Content.Headers.ContentType!.MediaType);
    }

    [Fact]
    public async Task MetricsAreInPrometheusTextFormat()
    {
        using var factory = Factory(Answering("a b c"));
        var http = factory.CreateClient();
        await http.PostJson("/v1/chat/completions", Chat("hi"));
        await http.PostJson("/v1/chat/completions", Chat("hi", """, "n": 0"""));
        var res = await http.GetAsync("/metrics");
        Assert.Equal("text/plain", res.Content.Headers.ContentType!.MediaType);
        var text = await res.Content.ReadAsStringAsync();
        Assert.Contains("seeksharp_http_requests_total{route=\"/v1/chat/completions\",method=\"POST\",status=\"200\"} 1", text);
        Assert.Contains("seeksharp_http_requests_total{route=\"/v1/chat/completions\",method=\"POST\",status=\"400\"} 1", text);
        Assert.Contains($"seeksharp_completion_tokens_total {Tok.Encode("a b c").Length}", text);
        Assert.Contains("seeksharp_prompt_cache_hit_tokens_total 0", text);
        Assert.Contains("seeksharp_requests_running 0", text);
        Assert.Contains("seeksharp_requests_queued 0", text);
        Assert.Contains("seeksharp_generation_duration_seconds_bucket{le=\"+Inf\"} 1", text);
        Assert.Contains("seeksharp_generation_duration_seconds_count 1", text);
        Assert.Contains("seeksharp_time_to_first_token_seconds_count 1", text);
        Assert.Contains("# TYPE seeksharp_cost_usd_total counter", text);
        Assert.Contains("# TYPE seeksharp_decode_seconds_total counter", text);
        // Every sample line is "name{labels} value" or "name value" with a number.
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => !l.StartsWith('#')))
            Assert.True(double.TryParse(line[(line.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture, out _), line);
    }

    [Fact]
    public async Task EngineFailureIsA500BeforeStreamingAndAnErrorEventDuringIt()
    {
        var engine = Answering("a b c d e");
        engine.FailAfterFirstToken = new InvalidOperationException("native crash");
        using var factory = Factory(engine);
        var http = factory.CreateClient();
        var res = await http.PostJson("/v1/chat/completions", Chat());
        Assert.Equal(500, (int)res.StatusCode);
        var err = (await JsonOf(res)).GetProperty("error");
        Assert.Equal("server_error", err.GetProperty("type").GetString());
        Assert.DoesNotContain("native crash", err.GetProperty("message").GetString()); // internals stay in the log

        var data = SseData(await (await http.PostJson("/v1/chat/completions", Chat("x", """, "stream": true"""))).Content.ReadAsStringAsync());
        Assert.Equal("[DONE]", data[^1]);
        Assert.Equal("server_error", JsonDocument.Parse(data[^2]).RootElement.GetProperty("error").GetProperty("type").GetString());

        engine.FailAfterFirstToken = null; // the server is still fine
        Assert.Equal(200, (int)(await http.PostJson("/v1/chat/completions", Chat())).StatusCode);
    }

    [Fact]
    public async Task ClientThatGoesAwayCancelsItsEngineRequests()
    {
        var engine = Engine(_ => Enumerable.Repeat(Tok.Encode("la")[0], 60).ToList());
        engine.TokenDelay = TimeSpan.FromMilliseconds(50);
        using var factory = Factory(engine);
        var http = factory.CreateClient();
        using (var cts = new CancellationTokenSource())
        {
            var req = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = Json(Chat("x", """, "stream": true, "n": 2""")) };
            var res = await http.SendAsync(req, HttpCompletionOption.ResponseHeadersRead, cts.Token);
            var stream = await res.Content.ReadAsStreamAsync(cts.Token);
            Assert.True(await stream.ReadAsync(new byte[64], cts.Token) > 0); // the stream has started
            cts.Cancel();
            res.Dispose();
        }
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (engine.Cancelled < 2 && DateTime.UtcNow < deadline) await Task.Delay(20);
        Assert.Equal(2, engine.Cancelled);
        Assert.Equal(0, engine.Stats().Running);
    }
}
