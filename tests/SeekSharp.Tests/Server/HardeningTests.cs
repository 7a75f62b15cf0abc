using Microsoft.Extensions.Logging;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using SeekSharp.Server;
using SeekSharp.Server.Api;
using SeekSharp.Server.Auth;
using SeekSharp.Server.Billing;
using static SeekSharp.Tests.Server.TestServing;

namespace SeekSharp.Tests.Server;

/// <summary>Issue 14: limits by endpoint whatever the path's spelling, JSON-only API, loopback Host names,
/// admin-only /metrics, bad encodings in every string field, 404/405 and broken chunked bodies in OpenAI's shape.</summary>
public class HardeningTests : TempDirTest
{
    /// <summary>Spellings of the two generation routes; those that route must be metered like the canonical path.</summary>
    public static TheoryData<string, bool> RouteVariants => new()
    {
        { "/v1/chat/completions", true }, { "/v1/chat/completions/", true }, { "/V1/Chat/Completions", true },
        { "/V1/CHAT/COMPLETIONS/", true }, { "//v1/chat/completions", true }, { "/v1//chat/completions", true },
        { "/v1/chat//completions/", true },
        { "/v1/completions", false }, { "/v1/completions/", false }, { "/V1/Completions", false },
        { "/V1/COMPLETIONS/", false }, { "//v1/completions", false }, { "/v1//completions", false },
    };

    static string Body(bool chat) => chat ? Chat() : """{"model":"tiny","prompt":"hi"}""";

    static async Task<(int Status, JsonElement Error)> Answer(HttpResponseMessage res)
    {
        var text = await res.Content.ReadAsStringAsync();
        var json = res.Content.Headers.ContentType?.MediaType == "application/json";
        var error = json && JsonDocument.Parse(text).RootElement is { ValueKind: JsonValueKind.Object } r && r.TryGetProperty("error", out var e) ? e.Clone() : default;
        return ((int)res.StatusCode, error);
    }

    [Theory]
    [MemberData(nameof(RouteVariants))]
    public async Task EveryRouteSpellingIsAuthenticatedRateLimitedAndBudgeted(string path, bool chat)
    {
        var keys = Path.Combine(NewDir(), "keys.json");
        var limited = ApiKeyFile.Add(keys, "limited", rpm: 1, budgetUsd: null);
        var broke = ApiKeyFile.Add(keys, "broke", rpm: null, budgetUsd: 0);
        var engine = Answering("ok");
        using var factory = Factory(engine, new ServerOptions { ApiKeysFile = keys, Pricing = new Pricing(1000, 1000, 1000) });
        var http = factory.CreateClient();
        var canonical = chat ? "/v1/chat/completions" : "/v1/completions";
        path = "http://localhost" + path;   // as a relative URI, "//v1/..." would name a host "v1"

        // Does this spelling reach the handler at all? (An open twin server answers 200 if it does.)
        using var open = Factory(Answering("ok"));
        var (openStatus, _) = await Answer(await open.CreateClient().PostJson(path, Body(chat)));
        Assert.True(openStatus is 200 or 404, $"{path}: {openStatus}");
        bool routes = openStatus == 200;
        if (!path.Contains("//")) Assert.True(routes, $"{path} should route");

        Assert.Equal(200, (await Answer(await http.PostJson(canonical, Body(chat), limited))).Status);
        int submitted = engine.Submitted.Count;
        var (status, error) = await Answer(await http.PostJson(path, Body(chat), limited));
        Assert.Equal(routes ? 429 : 404, status);
        if (routes) Assert.Equal("rate_limit_exceeded", error.GetProperty("code").GetString());
        (status, error) = await Answer(await http.PostJson(path, Body(chat), broke));
        Assert.Equal(routes ? 402 : 404, status);
        if (routes) Assert.Equal("insufficient_balance", error.GetProperty("code").GetString());
        (status, error) = await Answer(await http.PostJson(path, Body(chat)));
        if (routes || !path.Contains("//v1")) Assert.Equal((401, "missing_api_key"), (status, error.GetProperty("code").GetString()));
        else Assert.Equal(404, status);   // "//v1/..." is outside /v1 and reaches nothing
        Assert.Equal(submitted, engine.Submitted.Count);   // none of them reached the engine
        Assert.Equal(1, (await JsonOf(await http.GetAsync("/v1/usage", limited))).GetProperty("requests").GetInt32());
        Assert.Equal(0, (await JsonOf(await http.GetAsync("/v1/usage", broke))).GetProperty("requests").GetInt32());
    }

    [Theory]
    [InlineData("/v1/chat/completions", "text/plain")]
    [InlineData("/v1/chat/completions", "application/x-www-form-urlencoded")]
    [InlineData("/v1/chat/completions", "multipart/form-data; boundary=x")]
    [InlineData("/v1/chat/completions", null)]
    [InlineData("/v1/completions", "text/plain; charset=utf-8")]
    [InlineData("/v1/completions", null)]
    public async Task ApiPostsMustBeJson(string path, string? contentType)
    {
        var engine = Answering("ok");
        using var factory = Factory(engine);
        var http = factory.CreateClient();
        var content = new ByteArrayContent(Encoding.UTF8.GetBytes(Body(path.Contains("chat"))));
        if (contentType is not null) content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        var (status, error) = await Answer(await http.PostAsync(path, content));
        Assert.Equal(415, status);
        Assert.Equal("invalid_request_error", error.GetProperty("type").GetString());
        Assert.Equal("unsupported_media_type", error.GetProperty("code").GetString());
        Assert.Empty(engine.Submitted);

        var json = new ByteArrayContent(Encoding.UTF8.GetBytes(Body(path.Contains("chat"))));
        json.Headers.ContentType = MediaTypeHeaderValue.Parse("application/json; charset=utf-8");
        Assert.Equal(200, (int)(await http.PostAsync(path, json)).StatusCode);
    }

    [Theory]
    [InlineData("evil.example", false)]
    [InlineData("evil.example:8000", false)]
    [InlineData("localhost.evil.example", false)]
    [InlineData("127.0.0.1.nip.io", false)]
    [InlineData("10.0.0.7:8000", false)]
    [InlineData("localhost", true)]
    [InlineData("LOCALHOST:8000", true)]
    [InlineData("127.0.0.1:8000", true)]
    [InlineData("127.5.6.7", true)]
    [InlineData("[::1]:8000", true)]
    public async Task OnlyLoopbackHostNamesAreAnswered(string host, bool allowed)
    {
        using var factory = Factory(Answering("ok"));
        var http = factory.CreateClient();
        foreach (var (method, path) in new[] { ("GET", "/"), ("GET", "/health"), ("GET", "/v1/models"), ("GET", "/metrics"), ("POST", "/v1/chat/completions") })
        {
            var req = new HttpRequestMessage(new HttpMethod(method), path) { Content = method == "POST" ? Json(Chat()) : null };
            req.Headers.Host = host;
            var (status, error) = await Answer(await http.SendAsync(req));
            if (allowed) Assert.Equal(200, status);
            else
            {
                Assert.Equal(421, status);
                Assert.Equal("host_not_allowed", error.GetProperty("code").GetString());
            }
        }
    }

    [Fact]
    public void HostListFollowsTheListenAddress()
    {
        Assert.Empty(HostFilter.ForListenAddress("127.0.0.1"));
        Assert.Empty(HostFilter.ForListenAddress("localhost"));
        Assert.Empty(HostFilter.ForListenAddress("::1"));
        Assert.Equal([HostFilter.AnyHost], HostFilter.ForListenAddress("0.0.0.0"));
        Assert.Equal([HostFilter.AnyHost], HostFilter.ForListenAddress("::"));
        var lan = HostFilter.ForListenAddress("192.168.1.5");
        Assert.True(HostFilter.Allowed(new("192.168.1.5:8000"), lan));
        Assert.True(HostFilter.Allowed(new("localhost:8000"), lan));
        Assert.False(HostFilter.Allowed(new("evil.example"), lan));
        var v6 = HostFilter.ForListenAddress("fd00::5");
        Assert.True(HostFilter.Allowed(new("[fd00::5]:8000"), v6));
        Assert.False(HostFilter.Allowed(new("[fd00::6]:8000"), v6));
        Assert.True(HostFilter.Allowed(new("anything.example"), [HostFilter.AnyHost]));
    }

    [Fact]
    public async Task MetricsNeedAnAdminKeyWhenKeysAreOn()
    {
        var keys = Path.Combine(NewDir(), "keys.json");
        var user = ApiKeyFile.Add(keys, "user", null, null);
        var admin = ApiKeyFile.Add(keys, "ops", null, null, admin: true);
        Assert.True(ApiKeyFile.Load(keys).Single(k => k.Name == "ops").Admin);
        using var factory = Factory(Answering("ok"), new ServerOptions { ApiKeysFile = keys });
        var http = factory.CreateClient();
        var (status, error) = await Answer(await http.GetAsync("/metrics"));
        Assert.Equal((401, "missing_api_key"), (status, error.GetProperty("code").GetString()));
        (status, error) = await Answer(await http.GetAsync("/metrics", user));
        Assert.Equal((403, "permission_denied"), (status, error.GetProperty("code").GetString()));
        var res = await http.GetAsync("/metrics", admin);
        Assert.Equal(200, (int)res.StatusCode);
        Assert.Contains("seeksharp_cost_usd_total", await res.Content.ReadAsStringAsync());
        Assert.Equal(200, (int)(await http.PostJson("/v1/chat/completions", Chat(), admin)).StatusCode); // an admin key is a key

        using var open = Factory(Answering("ok"));
        Assert.Equal(200, (int)(await open.CreateClient().GetAsync("/metrics")).StatusCode);   // no keys: open, as before
    }

    [Theory]
    [InlineData("GET", "/nope", 404, "not_found")]
    [InlineData("POST", "/v1/nope", 404, "not_found")]
    [InlineData("GET", "/v1/chat/completions", 405, "method_not_allowed")]
    [InlineData("PUT", "/v1/completions", 405, "method_not_allowed")]
    [InlineData("DELETE", "/v1/models", 405, "method_not_allowed")]
    [InlineData("POST", "/health", 405, "method_not_allowed")]
    public async Task NotFoundAndMethodNotAllowedHaveTheErrorObject(string method, string path, int expected, string code)
    {
        using var factory = Factory(Answering("ok"));
        var res = await factory.CreateClient().SendAsync(new HttpRequestMessage(new HttpMethod(method), path) { Content = method is "GET" or "DELETE" ? null : Json("{}") });
        var (status, error) = await Answer(res);
        Assert.Equal(expected, status);
        Assert.Equal("application/json", res.Content.Headers.ContentType?.MediaType);
        Assert.Equal("invalid_request_error", error.GetProperty("type").GetString());
        Assert.Equal(code, error.GetProperty("code").GetString());
        Assert.False(string.IsNullOrWhiteSpace(error.GetProperty("message").GetString()));
    }

    [Theory]
    [InlineData("FFFFFFFFFFFFFFFFFFFF")]        // overflows a 64-bit size
    [InlineData("8000000000000000")]
    [InlineData("7FFFFFFFFFFFFFFF")]
    [InlineData("zz")]
    [InlineData("-1")]
    public async Task BrokenChunkSizeIs400WithTheErrorObject(string chunkSize)
    {
        var served = new ServedModel(ModelId, Tok, Answering("ok"));
        await using var app = SeekServer.Build(served, new ServerOptions(), "127.0.0.1", 0, l => l.ClearProviders());
        await app.StartAsync();
        var url = new Uri(app.Urls.Single());
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, url.Port);
        var stream = tcp.GetStream();
        var request = $"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:{url.Port}\r\nContent-Type: application/json\r\n" +
            $"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n{chunkSize}\r\n{{\"model\":\"tiny\"}}\r\n0\r\n\r\n";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request));
        var response = await new StreamReader(stream, Encoding.UTF8).ReadToEndAsync();
        Assert.True(response.StartsWith("HTTP/1.1 400", StringComparison.Ordinal), response);
        var body = response[(response.IndexOf("\r\n\r\n", StringComparison.Ordinal) + 4)..];
        var error = JsonDocument.Parse(body).RootElement.GetProperty("error");
        Assert.Equal("invalid_request_error", error.GetProperty("type").GetString());
        Assert.False(string.IsNullOrWhiteSpace(error.GetProperty("message").GetString()));
    }
}
