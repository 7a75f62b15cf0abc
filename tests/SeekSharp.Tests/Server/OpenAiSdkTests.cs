using System.ClientModel;
using System.ClientModel.Primitives;
using System.Text.Json;
using OpenAI;
using OpenAI.Chat;
using SeekSharp.Server;
using static SeekSharp.Tests.Server.TestServing;

namespace SeekSharp.Tests.Server;

/// <summary>
/// The official OpenAI .NET SDK against a real Kestrel on loopback. The SDK has typed properties for
/// OpenAI's usage fields (cached_tokens, reasoning_tokens) but not for DeepSeek's reasoning_content,
/// prompt_cache_hit_tokens or our cost_usd: those are read from the raw response (non-streaming) or from
/// the update written back with ModelReaderWriter, which keeps fields the SDK does not model (streaming).
/// </summary>
public class OpenAiSdkTests : TempDirTest
{
    static ChatClient Client(string url, string key = "unused") =>
        new("tiny", new ApiKeyCredential(key), new OpenAIClientOptions { Endpoint = new Uri(url + "/v1") });

    [Fact]
    public async Task SdkChatsWithTheRealEngineStreamingAndNot()
    {
        using var folder = new SeekSharp.Tests.Alignment.ChatModelFolder();
        using var served = RealModel.Serve(folder.ModelDir);
        var (app, url) = await RealModel.StartKestrel(served);
        await using var _ = app;
        var client = Client(url);
        var messages = new List<ChatMessage> { new SystemChatMessage("You are terse."), new UserChatMessage("Say something.") };
        var options = new ChatCompletionOptions { MaxOutputTokenCount = 6, Temperature = 0 };

        ClientResult<ChatCompletion> result = await client.CompleteChatAsync(messages, options);
        var c = result.Value;
        Assert.Equal(ChatMessageRole.Assistant, c.Role);
        Assert.StartsWith("chatcmpl-", c.Id);
        Assert.Equal("tiny", c.Model);
        Assert.Contains(c.FinishReason, new[] { ChatFinishReason.Stop, ChatFinishReason.Length });
        Assert.True(c.Usage.OutputTokenCount is >= 1 and <= 6);
        Assert.Equal(c.Usage.InputTokenCount + c.Usage.OutputTokenCount, c.Usage.TotalTokenCount);
        using var raw = JsonDocument.Parse(result.GetRawResponse().Content);
        var u = raw.RootElement.GetProperty("usage");
        Assert.Equal(c.Usage.InputTokenCount, u.GetProperty("prompt_cache_hit_tokens").GetInt32() + u.GetProperty("prompt_cache_miss_tokens").GetInt32());
        Assert.Equal(Pricing(u), u.GetProperty("cost_usd").GetDouble(), 12);

        // The same conversation again streams from a warm prefix cache: cached tokens are billed as hits.
        var text = new System.Text.StringBuilder();
        ChatTokenUsage? usage = null;
        ChatFinishReason? finish = null;
        int updates = 0;
        await foreach (var update in client.CompleteChatStreamingAsync(messages, options))
        {
            updates++;
            foreach (var part in update.ContentUpdate) text.Append(part.Text);
            if (update.FinishReason is { } f) finish = f;
            if (update.Usage is { } uu) usage = uu;
        }
        Assert.True(updates >= 3);
        Assert.NotNull(finish);
        Assert.NotNull(usage);
        Assert.Equal(c.Usage.InputTokenCount, usage.InputTokenCount);
        Assert.True(usage.InputTokenDetails.CachedTokenCount > 0, "the repeated prompt hits the prefix cache");
        Assert.Equal(c.Content[0].Text, text.ToString()); // greedy: the same reply
    }

    static double Pricing(JsonElement u) => SeekSharp.Server.Billing.Pricing.Default.Cost(
        u.GetProperty("prompt_cache_hit_tokens").GetInt32(), u.GetProperty("prompt_cache_miss_tokens").GetInt32(), u.GetProperty("completion_tokens").GetInt32());

    [Fact]
    public async Task SdkReadsReasoningContentAndUsageDetails()
    {
        var engine = Answering("<think>two and two</think><answer>four</answer>");
        using var served = new ServedModel(ModelId, Tok, engine);
        var (app, url) = await RealModel.StartKestrel(served);
        await using var _ = app;
        var client = Client(url);
        ChatMessage[] messages = [new UserChatMessage("2+2?")];

        var result = await client.CompleteChatAsync(messages);
        Assert.Equal("four", result.Value.Content[0].Text);
        Assert.Equal(Tok.Encode("<think>two and two</think>", allowSpecial: true).Length, result.Value.Usage.OutputTokenDetails.ReasoningTokenCount);
        using var raw = JsonDocument.Parse(result.GetRawResponse().Content);
        Assert.Equal("two and two", raw.RootElement.GetProperty("choices")[0].GetProperty("message").GetProperty("reasoning_content").GetString());

        var reasoning = new System.Text.StringBuilder();
        var content = new System.Text.StringBuilder();
        ChatTokenUsage? usage = null;
        await foreach (var update in client.CompleteChatStreamingAsync(messages, new ChatCompletionOptions()))
        {
            foreach (var part in update.ContentUpdate) content.Append(part.Text);
            using var json = JsonDocument.Parse(ModelReaderWriter.Write(update));
            if (json.RootElement.GetProperty("choices") is { ValueKind: JsonValueKind.Array } choices && choices.GetArrayLength() > 0
                && choices[0].GetProperty("delta").TryGetProperty("reasoning_content", out var r))
                reasoning.Append(r.GetString());
            if (update.Usage is { } u) usage = u;
        }
        Assert.Equal("four", content.ToString());
        Assert.Equal("two and two", reasoning.ToString());
        Assert.NotNull(usage); // the SDK asks for include_usage itself
        Assert.Equal(result.Value.Usage.OutputTokenCount, usage.OutputTokenCount);
    }

    [Fact]
    public async Task SdkSurfacesAuthAndValidationErrors()
    {
        var path = Path.Combine(NewDir(), "keys.json");
        var key = SeekSharp.Server.Auth.ApiKeyFile.Add(path, "ci", rpm: null, budgetUsd: null);
        using var served = new ServedModel(ModelId, Tok, Answering("ok"));
        var (app, url) = await RealModel.StartKestrel(served, new ServerOptions { ApiKeysFile = path });
        await using var _ = app;
        ChatMessage[] messages = [new UserChatMessage("hi")];

        var e = await Assert.ThrowsAsync<ClientResultException>(() => Client(url, "sk-seek-nope").CompleteChatAsync(messages));
        Assert.Equal(401, e.Status);
        Assert.Contains("Incorrect API key", e.Message);

        e = await Assert.ThrowsAsync<ClientResultException>(() => Client(url, key).CompleteChatAsync(messages, new ChatCompletionOptions { Temperature = 5 }));
        Assert.Equal(400, e.Status);
        Assert.Contains("temperature", e.Message);

        Assert.Equal("ok", (await Client(url, key).CompleteChatAsync(messages)).Value.Content[0].Text);
    }
}
