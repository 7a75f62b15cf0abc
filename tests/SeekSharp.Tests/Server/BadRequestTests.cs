using System.Text;
using System.Text.Json;
using static SeekSharp.Tests.Server.TestServing;

namespace SeekSharp.Tests.Server;

/// <summary>One in-memory server shared by the cases of a test class (a host costs ~0.1 s to build).</summary>
public sealed class SharedServer : IDisposable
{
    internal ScriptedEngine Engine { get; } = Answering("fine");
    internal ServerFactory Factory { get; }
    public SharedServer() => Factory = TestServing.Factory(Engine);
    public void Dispose() => Factory.Dispose();
}

/// <summary>Every malformed request is a 400 with OpenAI's error object naming the field, and harms nothing else.</summary>
public class BadRequestTests(SharedServer shared) : IClassFixture<SharedServer>
{
    public static TheoryData<string, string, string?> Chats => new()
    {
        { "/v1/chat/completions", "{not json", null },
        { "/v1/chat/completions", "[1, 2]", null },
        { "/v1/chat/completions", "", null },
        { "/v1/chat/completions", """{"messages":[{"role":"user","content":"hi"}]}""", "model" },
        { "/v1/chat/completions", """{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}""", "model" },
        { "/v1/chat/completions", """{"model":7,"messages":[{"role":"user","content":"hi"}]}""", "model" },
        { "/v1/chat/completions", """{"model":"tiny"}""", "messages" },
        { "/v1/chat/completions", """{"model":"tiny","messages":[]}""", "messages" },
        { "/v1/chat/completions", """{"model":"tiny","messages":"hi"}""", "messages" },
        { "/v1/chat/completions", """{"model":"tiny","messages":["hi"]}""", "messages[0]" },
        { "/v1/chat/completions", """{"model":"tiny","messages":[{"role":"wizard","content":"hi"}]}""", "messages[0].role" },
        { "/v1/chat/completions", """{"model":"tiny","messages":[{"content":"hi"}]}""", "messages[0].role" },
        { "/v1/chat/completions", """{"model":"tiny","messages":[{"role":"user","content":"a"},{"role":"user"}]}""", "messages[1].content" },
        { "/v1/chat/completions", """{"model":"tiny","messages":[{"role":"user","content":5}]}""", "messages[0].content" },
        { "/v1/chat/completions", """{"model":"tiny","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}]}""", "messages[0].content[0].type" },
        { "/v1/chat/completions", Chat("hi", """, "max_tokens": -1"""), "max_tokens" },
        { "/v1/chat/completions", Chat("hi", """, "max_tokens": 0"""), "max_tokens" },
        { "/v1/chat/completions", Chat("hi", """, "max_tokens": 1000000000"""), "max_tokens" },
        { "/v1/chat/completions", Chat("hi", """, "max_tokens": 99999999999999999999999"""), "max_tokens" },
        { "/v1/chat/completions", Chat("hi", """, "max_tokens": "10" """), "max_tokens" },
        { "/v1/chat/completions", Chat("hi", """, "max_tokens": 1.5"""), "max_tokens" },
        { "/v1/chat/completions", Chat("hi", """, "max_completion_tokens": 65"""), "max_completion_tokens" },
        { "/v1/chat/completions", Chat("hi", """, "temperature": 2.5"""), "temperature" },
        { "/v1/chat/completions", Chat("hi", """, "temperature": "hot" """), "temperature" },
        { "/v1/chat/completions", Chat("hi", """, "top_p": 0"""), "top_p" },
        { "/v1/chat/completions", Chat("hi", """, "stop": 5"""), "stop" },
        { "/v1/chat/completions", Chat("hi", """, "stop": ["a", 1]"""), "stop[1]" },
        { "/v1/chat/completions", Chat("hi", """, "stop": ["a","b","c","d","e"]"""), "stop" },
        { "/v1/chat/completions", Chat("hi", """, "stop": "" """), "stop" },
        { "/v1/chat/completions", Chat("hi", """, "n": 0"""), "n" },
        { "/v1/chat/completions", Chat("hi", """, "n": 100"""), "n" },
        { "/v1/chat/completions", Chat("hi", """, "seed": "x" """), "seed" },
        { "/v1/chat/completions", Chat("hi", """, "stream": "yes" """), "stream" },
        { "/v1/chat/completions", Chat("hi", """, "stream_options": {"include_usage": true}"""), "stream_options" },
        { "/v1/chat/completions", Chat("hi", """, "stream": true, "stream_options": {"include_usage": 1}"""), "stream_options.include_usage" },
        { "/v1/chat/completions", Chat("hi", """, "tools": [{"type":"function","function":{"name":"f"}}]"""), "tools" },
        { "/v1/chat/completions", Chat("hi", """, "logprobs": true"""), "logprobs" },
        { "/v1/chat/completions", Chat(string.Concat(Enumerable.Repeat("wordy ", 200))), "messages" },
        { "/v1/completions", """{"model":"tiny"}""", "prompt" },
        { "/v1/completions", """{"model":"tiny","prompt":5}""", "prompt" },
        { "/v1/completions", """{"model":"tiny","prompt":["a","b"]}""", "prompt" },
        { "/v1/completions", """{"model":"tiny","prompt":"a","echo":true}""", "echo" },
        { "/v1/completions", """{"model":"tiny","prompt":"a","max_tokens":-5}""", "max_tokens" },
    };

    [Theory]
    [MemberData(nameof(Chats))]
    public async Task BadRequestIs400NamingTheField(string path, string body, string? param)
    {
        var http = shared.Factory.CreateClient();
        int submitted = shared.Engine.Submitted.Count;
        var res = await http.PostJson(path, body);
        Assert.Equal(400, (int)res.StatusCode);
        var err = (await JsonOf(res)).GetProperty("error");
        Assert.Equal("invalid_request_error", err.GetProperty("type").GetString());
        Assert.False(string.IsNullOrWhiteSpace(err.GetProperty("message").GetString()));
        Assert.True(err.TryGetProperty("code", out _));
        if (param is null) Assert.Equal(JsonValueKind.Null, err.GetProperty("param").ValueKind);
        else Assert.Equal(param, err.GetProperty("param").GetString());
        Assert.Equal(submitted, shared.Engine.Submitted.Count); // nothing reached the engine
        Assert.Equal(200, (int)(await http.PostJson("/v1/chat/completions", Chat())).StatusCode);
    }

    /// <summary>Bodies with § where a bad encoding goes, and the `param` the 400 must name.</summary>
    static readonly (string Path, string Body, string Param)[] StringFields =
    [
        ("/v1/chat/completions", """{"model":"tiny","messages":[{"role":"user","content":"a§b"}]}""", "messages[0].content"),
        ("/v1/chat/completions", """{"model":"tiny","messages":[{"role":"us§er","content":"hi"}]}""", "messages[0].role"),
        ("/v1/chat/completions", """{"model":"ti§ny","messages":[{"role":"user","content":"hi"}]}""", "model"),
        ("/v1/chat/completions", """{"model":"tiny","messages":[{"role":"user","content":"hi"}],"stop":"§"}""", "stop"),
        ("/v1/chat/completions", """{"model":"tiny","messages":[{"role":"user","content":"hi"}],"stop":["x","§"]}""", "stop[1]"),
        ("/v1/chat/completions", """{"model":"tiny","messages":[{"role":"user","content":[{"type":"text","text":"§"}]}]}""", "messages[0].content[0].text"),
        ("/v1/chat/completions", """{"model":"tiny","messages":[{"role":"user","content":[{"type":"te§xt","text":"a"}]}]}""", "messages[0].content[0].type"),
        ("/v1/chat/completions", """{"model":"tiny","messages":[{"role":"user","content":"hi"}],"user":"§"}""", "user"),
        ("/v1/chat/completions", """{"model":"tiny","messages":[{"role":"user","content":"hi","na§me":"x"}]}""", "messages[0]"),
        ("/v1/completions", """{"model":"tiny","prompt":"§"}""", "prompt"),
        ("/v1/completions", """{"model":"tiny","prompt":["§"]}""", "prompt[0]"),
        ("/v1/completions", """{"model":"§","prompt":"hi"}""", "model"),
        ("/v1/completions", """{"model":"tiny","prompt":"hi","stop":"a§"}""", "stop"),
    ];

    /// <summary>Lone and reversed UTF-16 surrogate escapes, and raw bytes that are not UTF-8.</summary>
    static readonly (string Name, byte[] Bytes)[] BadEncodings =
    [
        ("lone high surrogate", "\\ud800"u8.ToArray()),
        ("lone low surrogate", "\\udfff"u8.ToArray()),
        ("reversed pair", "\\udc00\\ud800"u8.ToArray()),
        ("high then text", "\\ud83dx"u8.ToArray()),
        ("byte FF", [0xFF]),
        ("bad continuation", [0xC3, 0x28]),
        ("overlong slash", [0xC0, 0xAF]),
        ("UTF-8 encoded surrogate", [0xED, 0xA0, 0x80]),
        ("above U+10FFFF", [0xF4, 0x90, 0x80, 0x80]),
        ("truncated sequence", [0xE2, 0x82]),
    ];

    public static TheoryData<int, int> EncodingCases()
    {
        var data = new TheoryData<int, int>();
        for (int f = 0; f < StringFields.Length; f++)
            for (int e = 0; e < BadEncodings.Length; e++) data.Add(f, e);
        return data;
    }

    [Theory]
    [MemberData(nameof(EncodingCases))]
    public async Task BadEncodingInAnyStringFieldIs400NamingIt(int field, int encoding)
    {
        var (path, template, param) = StringFields[field];
        var parts = template.Split('§');
        byte[] body = [.. Encoding.UTF8.GetBytes(parts[0]), .. BadEncodings[encoding].Bytes, .. Encoding.UTF8.GetBytes(parts[1])];
        var http = shared.Factory.CreateClient();
        int submitted = shared.Engine.Submitted.Count;
        var content = new ByteArrayContent(body);
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        var res = await http.PostAsync(path, content);
        Assert.Equal(400, (int)res.StatusCode);
        var err = (await JsonOf(res)).GetProperty("error");
        Assert.Equal("invalid_request_error", err.GetProperty("type").GetString());
        Assert.Equal(param, err.GetProperty("param").GetString());
        Assert.Equal(submitted, shared.Engine.Submitted.Count);
    }

    [Fact]
    public async Task TooLongPromptSaysSoAndOversizedBodyIsRefusedUnread()
    {
        using var factory = Factory(Answering("fine"), new SeekSharp.Server.ServerOptions { MaxBodyBytes = 4096 });
        var http = factory.CreateClient();
        var err = (await JsonOf(await http.PostJson("/v1/chat/completions", Chat(string.Concat(Enumerable.Repeat("wordy ", 200)))))).GetProperty("error");
        Assert.Equal("context_length_exceeded", err.GetProperty("code").GetString());
        Assert.Contains("64", err.GetProperty("message").GetString());

        var res = await http.PostJson("/v1/chat/completions", Chat(new string('x', 5000)));
        Assert.Equal(400, (int)res.StatusCode);
        Assert.Equal("request_too_large", (await JsonOf(res)).GetProperty("error").GetProperty("code").GetString());
    }

    [Fact]
    public async Task BadRequestsDoNotStallARunningStream()
    {
        var engine = Engine(_ => [.. Tok.Encode("one two three four five six"), Tok.EosId]);
        engine.TokenDelay = TimeSpan.FromMilliseconds(30);
        using var factory = Factory(engine);
        var http = factory.CreateClient();
        var streaming = http.PostJson("/v1/chat/completions", Chat("x", """, "stream": true"""));
        for (int i = 0; i < 20; i++)
            Assert.Equal(400, (int)(await http.PostJson("/v1/chat/completions", "{\"model\":")).StatusCode);
        var data = SseData(await (await streaming).Content.ReadAsStringAsync());
        Assert.Equal("[DONE]", data[^1]);
        Assert.Equal("stop", JsonDocument.Parse(data[^2]).RootElement.GetProperty("choices")[0].GetProperty("finish_reason").GetString());
    }
}
