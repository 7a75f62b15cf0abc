using System.Text.Json;
using SeekSharp.Modeling;
using SeekSharp.Serving;
using SeekSharp.Tests.Modeling;
using SeekSharp.Tests.Serving;
using SeekSharp.Tokenization;
using static SeekSharp.Tests.Server.TestServing;

namespace SeekSharp.Tests.Server;

/// <summary>The real engine on a model with a NaN embedding row: a request that reads it gets a 500 (or an error event
/// in its stream), and the server answers the others, then and afterwards.</summary>
[Collection("Console")] // it logs the model's errors to the console, which the CLI tests capture
public class ModelFaultTests
{
    const string Bad = "zebra quagga";

    [Fact]
    public async Task NaNLogitsAnswerThatRequestWithAnErrorAndTheServerServesOn()
    {
        using var model = new Transformer(PoisonedModel.Untied(TestModels.Mla() with { VocabSize = Tok.VocabSize, MaxPositionEmbeddings = 64 }), seed: 7);
        // The poisoned token is one of the bad prompt's that neither the good prompt nor its greedy reply contains.
        var good = ChatTemplate.EncodeChat(Tok, [new ChatMessage("user", "hello")], addGenerationPrompt: true).Ids;
        var reply = PoisonedModel.Greedy(model, good, 4);
        var bad = ChatTemplate.EncodeChat(Tok, [new ChatMessage("user", Bad)], addGenerationPrompt: true).Ids;
        int x = bad.First(t => !good.Contains(t) && !reply.Contains(t));
        PoisonedModel.Poison(model, x);
        using var engine = new GenerationEngine(model, new EngineOptions { MaxBatchSize = 4 });
        using var factory = Factory(engine);
        var http = factory.CreateClient();
        const string sampled = """, "temperature": 0.9, "top_p": 0.9""";

        // Plain and streaming, bad ones among good ones at once (they share the engine's batch).
        var goodPlain = Enumerable.Range(0, 3).Select(_ => http.PostJson("/v1/chat/completions", Chat("hello", """, "temperature": 0, "max_tokens": 4"""))).ToArray();
        var badPlain = http.PostJson("/v1/chat/completions", Chat(Bad, sampled));
        var badStream = http.PostJson("/v1/chat/completions", Chat(Bad, sampled + """, "stream": true"""));
        var badCompletion = http.PostJson("/v1/completions", $$"""{"model":"tiny","prompt":"{{Bad}}","temperature":0}""");

        foreach (var res in new[] { await badPlain, await badCompletion })
        {
            Assert.Equal(500, (int)res.StatusCode);
            var root = await JsonOf(res);
            var err = root.GetProperty("error");
            Assert.Equal(["code", "message", "param", "type"], err.EnumerateObject().Select(p => p.Name).Order());
            Assert.Equal("server_error", err.GetProperty("type").GetString());
            Assert.Equal("model_error", err.GetProperty("code").GetString());
            Assert.Equal(JsonValueKind.Null, err.GetProperty("param").ValueKind);
            Assert.Contains("NaN/Inf logits", err.GetProperty("message").GetString());
        }

        var stream = await badStream;
        Assert.Equal(200, (int)stream.StatusCode);
        var data = SseData(await stream.Content.ReadAsStringAsync());
        Assert.Equal("[DONE]", data[^1]);
        var streamErr = JsonDocument.Parse(data[^2]).RootElement.GetProperty("error");
        Assert.Equal("model_error", streamErr.GetProperty("code").GetString());
        Assert.Contains("NaN/Inf logits at token 1", streamErr.GetProperty("message").GetString());

        // The good ones were answered, each with the same greedy reply, and so is one sent afterwards: the engine
        // thread is alive. A bad one is an error again.
        var answers = new List<string>();
        foreach (var res in (await Task.WhenAll(goodPlain)).Append(await http.PostJson("/v1/chat/completions", Chat("hello", """, "temperature": 0, "max_tokens": 4"""))))
        {
            Assert.Equal(200, (int)res.StatusCode);
            answers.Add((await JsonOf(res)).GetProperty("choices")[0].GetRawText());
        }
        Assert.Single(answers.Distinct());
        Assert.Equal(500, (int)(await http.PostJson("/v1/chat/completions", Chat(Bad, sampled))).StatusCode);
        Assert.Equal(200, (int)(await http.GetAsync("/health")).StatusCode);
    }
}
