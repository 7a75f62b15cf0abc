using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using SeekSharp.Ledger;
using SeekSharp.Tests.Cli;

namespace SeekSharp.Tests.Distributed;

/// <summary>A real `seek hub` and its `seek worker`s on the tiny preset (2 inner steps of 2 x 32 tokens: the processes'
/// start-up is most of the time), each test on its own free ports.</summary>
internal sealed class DilocoRun : IDisposable
{
    readonly List<SeekProcess> children = [];
    public string DataDir { get; }
    public string RunDir { get; }
    public int Port { get; } = FreePort();
    public SeekProcess Hub { get; private set; } = null!;
    public string Token { get; private set; } = "";
    readonly string[] hubArgs;

    public DilocoRun(string dataDir, string runDir, int outerSteps, params string[] extra)
    {
        (DataDir, RunDir) = (dataDir, runDir);
        hubArgs = ["hub", "--data", dataDir, "--preset", "tiny", "--out", runDir, "--inner-steps", "2", "--outer-steps", $"{outerSteps}",
            "--batch-size", "2", "--seq-len", "32", "--warmup", "1", "--eval-batches", "1", "--port", $"{Port}", .. extra];
    }

    public DilocoRun StartHub(params string[] more)
    {
        Hub = Start([.. hubArgs, .. more]);
        Token = Hub.WaitForLine(@"join token: ([0-9a-f]+)").Groups[1].Value;
        return this;
    }

    /// <summary>Restarts the hub with --resume after it was killed (the token is the first hub's).</summary>
    public SeekProcess ResumeHub()
    {
        Hub = Start([.. hubArgs, "--resume"]);
        return Hub;
    }

    public SeekProcess Worker(string name, params string[] extra) =>
        Start(["worker", "--hub", $"127.0.0.1:{Port}", "--data", DataDir, "--token", Token, "--name", name, "--threads", "1", .. extra]);

    public SeekProcess Start(string[] args)
    {
        var p = new SeekProcess(args);
        lock (children) children.Add(p);
        return p;
    }

    public IReadOnlyList<JsonObject> Metrics => MetricsLog.Read(Path.Combine(RunDir, MetricsLog.FileName));

    /// <summary>A port whose next port is free too (the silo takes PORT + 1).</summary>
    public static int FreePort()
    {
        for (var rng = new Random(); ;)
        {
            int p = rng.Next(20000, 60000);
            if (Free(p) && Free(p + 1)) return p;
        }
    }

    static bool Free(int port)
    {
        var l = new TcpListener(IPAddress.Loopback, port);
        try { l.Start(); return true; }
        catch (SocketException) { return false; }
        finally { l.Stop(); }
    }

    public void Dispose()
    {
        foreach (var c in children) c.Dispose();
    }
}
