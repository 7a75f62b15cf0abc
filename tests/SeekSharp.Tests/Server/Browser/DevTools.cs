using System.Collections.Concurrent;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace SeekSharp.Tests.Server.Browser;

/// <summary>
/// A minimal Chrome DevTools Protocol client over a WebSocket: commands as {"id","method","params"},
/// answers matched by id, events ignored. Enough to navigate a page and evaluate script in it, no Node.
/// </summary>
sealed class DevTools : IAsyncDisposable
{
    readonly ClientWebSocket socket = new();
    readonly ConcurrentDictionary<int, TaskCompletionSource<JsonNode>> pending = new();
    readonly CancellationTokenSource stop = new();
    Task? receiving;
    int nextId;

    /// <summary>Connects to the first page target of a browser listening on <paramref name="port"/>.</summary>
    public static async Task<DevTools> ConnectToPageAsync(int port)
    {
        using var http = new HttpClient();
        var targets = JsonNode.Parse(await http.GetStringAsync($"http://127.0.0.1:{port}/json/list"))!.AsArray();
        var page = targets.First(t => (string?)t!["type"] == "page")!;
        var dt = new DevTools();
        await dt.socket.ConnectAsync(new Uri((string)page["webSocketDebuggerUrl"]!), CancellationToken.None);
        dt.receiving = dt.ReceiveLoop();
        return dt;
    }

    public async Task<JsonNode> SendAsync(string method, JsonObject? parameters = null, TimeSpan? timeout = null)
    {
        int id = Interlocked.Increment(ref nextId);
        var tcs = new TaskCompletionSource<JsonNode>(TaskCreationOptions.RunContinuationsAsynchronously);
        pending[id] = tcs;
        var msg = new JsonObject { ["id"] = id, ["method"] = method, ["params"] = parameters ?? new JsonObject() };
        await socket.SendAsync(Encoding.UTF8.GetBytes(msg.ToJsonString()), WebSocketMessageType.Text, true, CancellationToken.None);
        var reply = await tcs.Task.WaitAsync(timeout ?? TimeSpan.FromSeconds(30));
        if (reply["error"] is { } err) throw new InvalidOperationException($"{method}: {err.ToJsonString()}");
        return reply["result"]!;
    }

    /// <summary>Evaluates a JavaScript expression in the page (awaiting a returned promise) and returns its JSON value.</summary>
    public async Task<JsonNode?> EvaluateAsync(string expression)
    {
        var r = await SendAsync("Runtime.evaluate", new JsonObject { ["expression"] = expression, ["returnByValue"] = true, ["awaitPromise"] = true });
        if (r["exceptionDetails"] is { } ex) throw new InvalidOperationException($"script failed: {ex.ToJsonString()}");
        return r["result"]!["value"];
    }

    /// <summary>Polls <paramref name="expression"/> until it is truthy; returns its value. On timeout the message
    /// includes the value of <paramref name="explain"/> (e.g. the page's error line).</summary>
    public async Task<JsonNode> WaitForAsync(string expression, TimeSpan timeout, string what, string? explain = null)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            var v = await EvaluateAsync(expression);
            if (v is not null && v.ToJsonString() is not ("false" or "\"\"" or "0" or "null")) return v;
            await Task.Delay(50);
        }
        var why = explain is null ? "" : $" ({explain}: {(await EvaluateAsync(explain))?.ToJsonString()})";
        throw new TimeoutException($"page: {what} did not happen within {timeout.TotalSeconds:0} s{why}");
    }

    async Task ReceiveLoop()
    {
        var buffer = new byte[1 << 16];
        var message = new MemoryStream();
        try
        {
            while (!stop.IsCancellationRequested && socket.State == WebSocketState.Open)
            {
                var r = await socket.ReceiveAsync(buffer, stop.Token);
                if (r.MessageType == WebSocketMessageType.Close) break;
                message.Write(buffer, 0, r.Count);
                if (!r.EndOfMessage) continue;
                var node = JsonNode.Parse(message.ToArray());
                message.SetLength(0);
                if (node?["id"] is { } id && pending.TryRemove((int)id, out var tcs)) tcs.TrySetResult(node);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or WebSocketException) { }
        foreach (var t in pending.Values) t.TrySetException(new InvalidOperationException("DevTools connection closed"));
    }

    public async ValueTask DisposeAsync()
    {
        stop.Cancel();
        try { if (socket.State == WebSocketState.Open) await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None); }
        catch (WebSocketException) { }
        if (receiving is not null) await receiving;
        socket.Dispose();
        stop.Dispose();
    }
}
