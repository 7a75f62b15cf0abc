using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using SeekSharp.Server;
using SeekSharp.Serving;
using SeekSharp.Tests.Modeling;
using SeekSharp.Tests.Tokenization;
using SeekSharp.Tokenization;

namespace SeekSharp.Tests.Server;

/// <summary>The server in memory (WebApplicationFactory) around any engine; the model is called "tiny". The entry
/// point type is this test assembly's (the server is a class library), and the host is built by SeekServer's own calls.</summary>
sealed class ServerFactory(ServedModel model, ServerOptions options) : WebApplicationFactory<ServerFactory>
{
    // The factory otherwise looks for a project folder named after the entry assembly beside the solution;
    // this is the setting it reads first (ASPNETCORE_TEST_CONTENTROOT_<ASSEMBLY>). The server reads no files from it.
    static ServerFactory() => Environment.SetEnvironmentVariable("ASPNETCORE_TEST_CONTENTROOT_SEEKSHARP_TESTS", AppContext.BaseDirectory);

    protected override IHostBuilder CreateHostBuilder() =>
        Host.CreateDefaultBuilder()
            .ConfigureLogging(l => l.ClearProviders()) // no server logs on the console, where in-process CLI tests read their output
            .ConfigureWebHostDefaults(web => web
                .ConfigureServices(s => s.AddSeekServer(model, options))
                .Configure(app => app.UseSeekServer()));
}

static class TestServing
{
    public const string ModelId = "tiny";
    public static BpeTokenizer Tok => TokenizerFixture.Tokenizer;

    /// <summary>Context 64 tokens, vocab of the shared test tokenizer.</summary>
    public static ScriptedEngine Engine(Func<GenerationRequest, IReadOnlyList<int>> script) =>
        new(TestModels.Mla() with { VocabSize = Tok.VocabSize, MaxPositionEmbeddings = 64 }, script);

    /// <summary>An engine that always answers <paramref name="text"/> (special-token text allowed) then EOS.</summary>
    public static ScriptedEngine Answering(string text) => Engine(_ => [.. Tok.Encode(text, allowSpecial: true), Tok.EosId]);

    public static ServerFactory Factory(IGenerationEngine engine, ServerOptions? options = null) =>
        new(new ServedModel(ModelId, Tok, engine), options ?? new ServerOptions());

    public static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    public static Task<HttpResponseMessage> PostJson(this HttpClient http, string path, string json, string? key = null)
    {
        var req = new HttpRequestMessage(HttpMethod.Post, path) { Content = Json(json) };
        if (key is not null) req.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return http.SendAsync(req);
    }

    public static Task<HttpResponseMessage> GetAsync(this HttpClient http, string path, string key)
    {
        var req = new HttpRequestMessage(HttpMethod.Get, path);
        req.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return http.SendAsync(req);
    }

    public static async Task<JsonElement> JsonOf(HttpResponseMessage res) =>
        JsonDocument.Parse(await res.Content.ReadAsStringAsync()).RootElement.Clone();

    /// <summary>The payloads of an SSE body, checking the framing: every event is exactly "data: ...\n\n".</summary>
    public static List<string> SseData(string body)
    {
        Assert.EndsWith("\n\n", body);
        var events = body[..^2].Split("\n\n");
        foreach (var e in events) Assert.StartsWith("data: ", e);
        return events.Select(e => e["data: ".Length..]).ToList();
    }

    public static string Chat(string content = "hello", string extra = "") =>
        $$"""{"model":"tiny","messages":[{"role":"user","content":{{JsonSerializer.Serialize(content)}}}]{{extra}}}""";
}
