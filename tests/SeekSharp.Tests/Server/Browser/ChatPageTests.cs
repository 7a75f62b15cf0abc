using System.Text.Json.Nodes;
using SeekSharp.Server;
using static SeekSharp.Tests.Server.TestServing;

namespace SeekSharp.Tests.Server.Browser;

/// <summary>The chat page in headless Chromium: it loads, sends a message, and shows the reply as it streams.</summary>
public class ChatPageTests
{
    [ChromiumFact]
    public async Task PageStreamsAReplyWithReasoningUsageAndSpend()
    {
        var engine = Answering("<think>the user greets</think><answer>hello there, nice to meet you</answer>");
        engine.TokenDelay = TimeSpan.FromMilliseconds(40); // slow enough that the page shows partial replies
        using var served = new ServedModel(ModelId, Tok, engine);
        var (app, url) = await RealModel.StartKestrel(served);
        await using var _ = app;
        using var browser = new Chromium();
        await using var page = await DevTools.ConnectToPageAsync(browser.DebuggingPort);

        await page.SendAsync("Page.navigate", new JsonObject { ["url"] = url + "/" });
        await page.WaitForAsync("document.getElementById('model')?.textContent.startsWith('tiny')", TimeSpan.FromSeconds(20), "the model name loaded from /v1/models");
        // Record every text the reply shows, to see it grow while streaming.
        await page.EvaluateAsync("""
            window.__seen = [];
            new MutationObserver(() => { const c = document.querySelector('.msg.assistant .content'); if (c) window.__seen.push(c.textContent); })
              .observe(document.getElementById('messages'), { subtree: true, childList: true, characterData: true });
            document.getElementById('input').value = 'hi!';
            document.getElementById('send').click();
            true
            """);
        await page.WaitForAsync("document.querySelector('.msg.assistant')?.dataset.done === 'true'", TimeSpan.FromSeconds(30), "the reply finished",
            "document.getElementById('error').textContent");

        Assert.Equal("hi!", (string?)await page.EvaluateAsync("document.querySelector('.msg.user').textContent"));
        Assert.Equal("hello there, nice to meet you", (string?)await page.EvaluateAsync("document.querySelector('.msg.assistant .content').textContent"));
        Assert.Equal("the user greets", (string?)await page.EvaluateAsync("document.querySelector('.msg.assistant .reasoning').textContent"));
        var seen = (await page.EvaluateAsync("window.__seen.filter(s => s.length > 0)"))!.AsArray().Select(n => (string)n!).Distinct().ToList();
        Assert.True(seen.Count >= 3, $"the reply appeared piece by piece, saw: {string.Join(" | ", seen)}");
        Assert.All(seen, s => Assert.StartsWith(s, "hello there, nice to meet you"));

        var usage = (string?)await page.EvaluateAsync("document.querySelector('.msg.assistant .usage').textContent");
        Assert.Matches(@"^\d+ prompt \(\d+ cached\) \+ \d+ completion tokens · \$[0-9.e-]+ · stop$", usage);
        await page.WaitForAsync("document.getElementById('spend').textContent.includes('requests1')", TimeSpan.FromSeconds(10), "the spend panel counted the request");
        Assert.Equal("", (string?)await page.EvaluateAsync("document.getElementById('error').textContent"));
    }
}
