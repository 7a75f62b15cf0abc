using System.Text.Json;
using SeekSharp.Server.Billing;
using SeekSharp.Server;
using SeekSharp.Tokenization;
using static SeekSharp.Tests.Server.TestServing;

namespace SeekSharp.Tests.Server;

/// <summary>POST /v1/chat/completions: shapes, reasoning split, usage and cost arithmetic, stop and length.</summary>
public class ChatApiTests
{
    const string Reply = "<think>let me see</think><answer>forty two</answer>";
    static readonly Pricing Prices = new(InputCacheHitPerMillion: 1000, InputCacheMissPerMillion: 3000, OutputPerMillion: 7000);

    static int PromptTokens(string user) =>
        ChatTemplate.EncodeChat(Tok, [new ChatMessage("user", user)], addGenerationPrompt: true).Ids.Length;

    static int ReplyTokens(string text) => Tok.Encode(text, allowSpecial: true).Length;

    [Fact]
    public async Task NonStreamingReplySplitsReasoningAndReportsUsageAndCost()
    {
        var engine = Answering(Reply);
        using var factory = Factory(engine, new ServerOptions { Pricing = Prices });
        var http = factory.CreateClient();

        var res = await http.PostJson("/v1/chat/completions", Chat("hello"));
        Assert.Equal(200, (int)res.StatusCode);
        Assert.StartsWith("application/json", res.Content.Headers.ContentType!.ToString());
        var j = await JsonOf(res);
        Assert.StartsWith("chatcmpl-", j.GetProperty("id").GetString());
        Assert.Equal("chat.completion", j.GetProperty("object").GetString());
        Assert.Equal("tiny", j.GetProperty("model").GetString());
        Assert.True(j.GetProperty("created").GetInt64() > 1_700_000_000);
        var choice = Assert.Single(j.GetProperty("choices").EnumerateArray().ToList());
        Assert.Equal(0, choice.GetProperty("index").GetInt32());
        Assert.Equal("stop", choice.GetProperty("finish_reason").GetString());
        var msg = choice.GetProperty("message");
        Assert.Equal("assistant", msg.GetProperty("role").GetString());
        Assert.Equal("forty two", msg.GetProperty("content").GetString());   // <answer> tags stripped
        Assert.Equal("let me see", msg.GetProperty("reasoning_content").GetString());

        int prompt = PromptTokens("hello"), completion = ReplyTokens(Reply), reasoning = ReplyTokens("<think>let me see</think>");
        var u = j.GetProperty("usage");
        Assert.Equal(prompt, u.GetProperty("prompt_tokens").GetInt32());
        Assert.Equal(completion, u.GetProperty("completion_tokens").GetInt32());
        Assert.Equal(prompt + completion, u.GetProperty("total_tokens").GetInt32());
        Assert.Equal(0, u.GetProperty("prompt_cache_hit_tokens").GetInt32());
        Assert.Equal(prompt, u.GetProperty("prompt_cache_miss_tokens").GetInt32());
        Assert.Equal(0, u.GetProperty("prompt_tokens_details").GetProperty("cached_tokens").GetInt32());
        Assert.Equal(reasoning, u.GetProperty("completion_tokens_details").GetProperty("reasoning_tokens").GetInt32());
        Assert.Equal((prompt * 3000.0 + completion * 7000.0) / 1e6, u.GetProperty("cost_usd").GetDouble(), 12);

        // The engine got the chat template's ids, EOS as its stop id, OpenAI's default sampling.
        var sent = Assert.Single(engine.Submitted);
        Assert.Equal(ChatTemplate.EncodeChat(Tok, [new ChatMessage("user", "hello")], addGenerationPrompt: true).Ids, sent.Prompt);
        Assert.Equal([Tok.EosId], sent.StopIds);
        Assert.Equal(1.0, sent.Sampling.Temperature);
        Assert.Equal(64 - prompt, sent.MaxTokens); // no max_tokens: the rest of the context
    }

    [Fact]
    public async Task RepeatedPromptIsBilledAtTheCacheHitPrice()
    {
        using var factory = Factory(Answering("ok"), new ServerOptions { Pricing = Prices });
        var http = factory.CreateClient();
        await http.PostJson("/v1/chat/completions", Chat("the same question"));
        var u = (await JsonOf(await http.PostJson("/v1/chat/completions", Chat("the same question")))).GetProperty("usage");
        int prompt = u.GetProperty("prompt_tokens").GetInt32(), hit = u.GetProperty("prompt_cache_hit_tokens").GetInt32();
        Assert.Equal(prompt - 1, hit);
        Assert.Equal(1, u.GetProperty("prompt_cache_miss_tokens").GetInt32());
        Assert.Equal(hit, u.GetProperty("prompt_tokens_details").GetProperty("cached_tokens").GetInt32());
        int completion = u.GetProperty("completion_tokens").GetInt32();
        Assert.Equal((hit * 1000.0 + 1 * 3000.0 + completion * 7000.0) / 1e6, u.GetProperty("cost_usd").GetDouble(), 12);
    }

    [Fact]
    public async Task StreamingSendsRoleThenDeltasThenFinishThenUsageThenDone()
    {
        using var factory = Factory(Answering(Reply), new ServerOptions { Pricing = Prices });
        var http = factory.CreateClient();
        var res = await http.PostJson("/v1/chat/completions", Chat("hello", """, "stream": true, "stream_options": {"include_usage": true}"""));
        Assert.Equal(200, (int)res.StatusCode);
        Assert.Equal("text/event-stream", res.Content.Headers.ContentType!.MediaType);
        var data = SseData(await res.Content.ReadAsStringAsync());
        Assert.Equal("[DONE]", data[^1]);
        var chunks = data[..^1].Select(d => JsonDocument.Parse(d).RootElement).ToList();
        string id = chunks[0].GetProperty("id").GetString()!;
        Assert.All(chunks, c => Assert.Equal(id, c.GetProperty("id").GetString()));
        Assert.All(chunks, c => Assert.Equal("chat.completion.chunk", c.GetProperty("object").GetString()));

        var first = chunks[0].GetProperty("choices")[0].GetProperty("delta");
        Assert.Equal("assistant", first.GetProperty("role").GetString());
        var deltas = chunks[1..^2].Select(c => c.GetProperty("choices")[0]).ToList();
        Assert.All(deltas, d => Assert.Equal(JsonValueKind.Null, d.GetProperty("finish_reason").ValueKind));
        string Joined(string field) => string.Concat(deltas.Select(d => d.GetProperty("delta").TryGetProperty(field, out var v) ? v.GetString() : ""));
        Assert.Equal("forty two", Joined("content"));
        Assert.Equal("let me see", Joined("reasoning_content"));
        Assert.True(deltas.Count >= 2, "text arrives incrementally");

        var finish = chunks[^2].GetProperty("choices")[0];
        Assert.Equal("stop", finish.GetProperty("finish_reason").GetString());
        var usageChunk = chunks[^1];
        Assert.Empty(usageChunk.GetProperty("choices").EnumerateArray());
        var u = usageChunk.GetProperty("usage");
        Assert.Equal(ReplyTokens(Reply), u.GetProperty("completion_tokens").GetInt32());
        Assert.Equal(u.GetProperty("prompt_tokens").GetInt32() + u.GetProperty("completion_tokens").GetInt32(), u.GetProperty("total_tokens").GetInt32());
        Assert.All(chunks[..^1], c => Assert.False(c.TryGetProperty("usage", out _)));

        // Without include_usage there is no usage chunk.
        data = SseData(await (await http.PostJson("/v1/chat/completions", Chat("hello", """, "stream": true"""))).Content.ReadAsStringAsync());
        Assert.DoesNotContain(data[..^1], d => JsonDocument.Parse(d).RootElement.TryGetProperty("usage", out _));
    }

    [Fact]
    public async Task StopSequenceEndsTheReplyBeforeItAndCancelsTheEngineRequest()
    {
        var engine = Answering("abc STOP def ghi jkl mno");
        engine.TokenDelay = TimeSpan.FromMilliseconds(20); // time for the cancellation to arrive before the script ends
        using var factory = Factory(engine);
        var http = factory.CreateClient();
        var j = await JsonOf(await http.PostJson("/v1/chat/completions", Chat("x", """, "stop": ["zzz", "STOP"]""")));
        var choice = j.GetProperty("choices")[0];
        Assert.Equal("abc ", choice.GetProperty("message").GetProperty("content").GetString());
        Assert.Equal("stop", choice.GetProperty("finish_reason").GetString());
        Assert.True(j.GetProperty("usage").GetProperty("completion_tokens").GetInt32() < ReplyTokens("abc STOP def ghi jkl mno"));
        Assert.Equal(1, engine.Cancelled);

        // Streaming never shows a partial stop sequence, even when it is split across tokens.
        var data = SseData(await (await http.PostJson("/v1/chat/completions", Chat("x", """, "stream": true, "stop": "STOP" """))).Content.ReadAsStringAsync());
        var text = string.Concat(data[..^1].Select(d => JsonDocument.Parse(d).RootElement.GetProperty("choices")[0].GetProperty("delta"))
            .Select(d => d.TryGetProperty("content", out var c) ? c.GetString() : ""));
        Assert.Equal("abc ", text);
    }

    [Fact]
    public async Task MaxTokensEndsWithLengthAndNChoicesUseSuccessiveSeeds()
    {
        var engine = Answering("one two three four five six seven");
        using var factory = Factory(engine);
        var http = factory.CreateClient();
        var j = await JsonOf(await http.PostJson("/v1/chat/completions", Chat("x", """, "max_tokens": 3, "n": 2, "seed": 41, "temperature": 0""")));
        var choices = j.GetProperty("choices").EnumerateArray().ToList();
        Assert.Equal([0, 1], choices.Select(c => c.GetProperty("index").GetInt32()));
        Assert.All(choices, c => Assert.Equal("length", c.GetProperty("finish_reason").GetString()));
        Assert.All(choices, c => Assert.Equal(Tok.Decode(Tok.Encode("one two three four")[..3]), c.GetProperty("message").GetProperty("content").GetString()));
        Assert.Equal(6, j.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
        Assert.Equal([41, 42], engine.Submitted.Select(r => r.Seed).Order());
        Assert.All(engine.Submitted, r => Assert.Equal(0, r.Sampling.Temperature));

        // max_completion_tokens is the newer name of the same cap.
        j = await JsonOf(await http.PostJson("/v1/chat/completions", Chat("x", """, "max_completion_tokens": 2""")));
        Assert.Equal(2, j.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
    }

    [Fact]
    public async Task ContentPartsSystemAndDeveloperRolesRenderThroughTheChatTemplate()
    {
        var engine = Answering("ok");
        using var factory = Factory(engine);
        var http = factory.CreateClient();
        var body = """{"model":"tiny","messages":[{"role":"developer","content":"be brief"},{"role":"user","content":[{"type":"text","text":"hi "},{"type":"text","text":"there"}]},{"role":"assistant","content":"yo"},{"role":"user","content":"again"}]}""";
        Assert.Equal(200, (int)(await http.PostJson("/v1/chat/completions", body)).StatusCode);
        var expected = ChatTemplate.EncodeChat(Tok, [new("system", "be brief"), new("user", "hi there"), new("assistant", "yo"), new("user", "again")], addGenerationPrompt: true).Ids;
        Assert.Equal(expected, engine.Submitted.Single().Prompt);
    }
}
