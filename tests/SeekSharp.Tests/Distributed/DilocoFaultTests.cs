using System.Diagnostics;
using System.Text.Json;
using System.Text.RegularExpressions;
using SeekSharp.Distributed;
using SeekSharp.Tests.Training;

namespace SeekSharp.Tests.Distributed;

/// <summary>The faults the issue names, with real processes: a worker SIGKILLed mid-run and one joining mid-run, a slow
/// worker, the hub killed and resumed, membership through a real redis-server.</summary>
[Collection("DilocoProcesses")] // one set of hub and workers at a time: they share two cores
public class DilocoFaultTests(TinyDataset data) : IClassFixture<TinyDataset>
{
    static HubState LastState(string runDir) =>
        JsonSerializer.Deserialize<HubState>(File.ReadAllText(Path.Combine(HubCheckpoint.Latest(runDir)!, HubCheckpoint.StateFile)), HubCheckpoint.Json)!;

    [Fact]
    public void AKilledWorkersLeaseExpiresTheRunGoesOnAndANewWorkerContributesFromTheNextRound()
    {
        using var run = new DilocoRun(data.DataDir, data.NewRunDir(), 10, "--min-workers", "2", "--start-workers", "3", "--lease", "3", "--round-timeout", "120").StartHub();
        var slowdown = new[] { "--inner-delay", "700" };
        run.Worker("w0", slowdown); run.Worker("w1", slowdown);
        var doomed = run.Worker("w2", slowdown);
        run.Hub.WaitForLine(@"round 1/10 .*w2");        // w2 took part in the first round (the hub waited for 3)...
        doomed.Kill();                                    // ...and dies in the next one, without a word
        var late = run.Worker("w3", slowdown);
        Assert.Equal(0, run.Hub.WaitForExit(240));
        Assert.Contains("lease expired: w2", run.Hub.Stdout);
        Assert.Matches(new Regex(@"round \d+/10 .*\(.*w3.*\)"), run.Hub.Stdout);
        Assert.Equal(0, late.WaitForExit(60));
        Assert.Contains("run finished at round 10", late.Stdout);

        var rounds = run.Metrics;
        Assert.Equal(Enumerable.Range(1, 10), rounds.Select(r => (int)r["step"]!));
        Assert.All(rounds, r => Assert.True(double.IsFinite((double)r["val_loss"]!)));
        Assert.True((double)rounds[^1]["val_loss"]! < (double)rounds[0]["val_loss"]!, "validation loss fell over the run");
        var state = LastState(run.RunDir);
        Assert.Equal(10, state.Round);
        Assert.True(state.Workers["w3"].Accepted >= 1);
        Assert.True(state.Workers["w2"].Accepted >= 1);
        Assert.True(state.Rejected.LeasesExpired >= 1);
        var ledger = SeekSharp.Ledger.LedgerEntry.Read(Path.Combine(run.RunDir, "ledger.json"));
        Assert.True(ledger.Network!.Peers["w3"].BytesSent > 0);   // the current weights went to the newcomer
        Assert.True(File.Exists(Path.Combine(run.RunDir, "report.md")));
    }

    [Fact]
    public void ASlowWorkersLateUpdateIsDroppedAndCounted()
    {
        using var run = new DilocoRun(data.DataDir, data.NewRunDir(), 4, "--min-workers", "2", "--round-timeout", "4", "--lease", "60").StartHub();
        run.Worker("w0"); run.Worker("w1");
        var slow = run.Worker("slow", "--inner-delay", "3500");   // 2 steps: 7 s, past the 4 s deadline
        Assert.Equal(0, run.Hub.WaitForExit(240));
        Assert.Contains("dropped a late update from slow", run.Hub.Stdout);
        Assert.Equal(0, slow.WaitForExit(60));
        Assert.Contains("not used: late", slow.Stdout);
        var rounds = run.Metrics;
        Assert.Equal(4, rounds.Count);
        Assert.True((int)rounds[^1]["stale_dropped"]! >= 1);
        Assert.All(rounds, r => Assert.Equal(2, (int)r["workers"]!));
        Assert.Equal(0, LastState(run.RunDir).Workers["slow"].Accepted);
    }

    [Fact]
    public void AHubKilledMidRunResumesFromItsLastRoundAndTheWorkersReconnect()
    {
        using var run = new DilocoRun(data.DataDir, data.NewRunDir(), 6, "--min-workers", "2", "--lease", "10").StartHub();
        var w = new[] { run.Worker("w0", "--inner-delay", "400", "--connect-timeout", "120"), run.Worker("w1", "--inner-delay", "400", "--connect-timeout", "120") };
        int printed = int.Parse(run.Hub.WaitForLine(@"round (\d)/6 ").Groups[1].Value);
        run.Hub.WaitForLine(@"round 3/6 ");
        run.Hub.Kill();
        printed = Regex.Matches(run.Hub.Stdout, @"round (\d)/6 ").Max(m => int.Parse(m.Groups[1].Value));
        var hub2 = run.ResumeHub();
        var from = int.Parse(hub2.WaitForLine(@"resumed from round_0*(\d+) ").Groups[1].Value);
        Assert.True(from >= printed, $"resumed at round {from}, but round {printed} was reported done");   // no finished round lost
        Assert.Equal(0, hub2.WaitForExit(240));
        foreach (var p in w)
        {
            Assert.Equal(0, p.WaitForExit(60));
            Assert.Contains("run finished at round 6", p.Stdout);
            Assert.Matches("lost the hub|joining again", p.Stdout);
        }
        var steps = run.Metrics.Select(r => (int)r["step"]!).ToList();
        Assert.Equal(Enumerable.Range(1, 6), steps);             // each round once, in order, across the two hubs
        Assert.Equal(6, LastState(run.RunDir).Round);
        Assert.Contains("join token: unchanged", hub2.Stdout);
    }

    [Fact]
    public void WorkersFindTheHubThroughRedisMembership()
    {
        int redisPort = DilocoRun.FreePort();
        var server = File.Exists("/usr/bin/redis-server") ? "/usr/bin/redis-server"
            : throw new InvalidOperationException("redis-server is not installed (apt-get install redis-server; .ci/run does it)");
        var dir = Directory.CreateTempSubdirectory("seeksharp-redis-").FullName;
        using var redis = Process.Start(new ProcessStartInfo(server, ["--port", $"{redisPort}", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir])
            { RedirectStandardOutput = true, UseShellExecute = false })!;
        try
        {
            var cluster = $"redis://127.0.0.1:{redisPort}";
            using var run = new DilocoRun(data.DataDir, data.NewRunDir(), 2, "--cluster", cluster).StartHub();
            Assert.Contains("membership in " + cluster, run.Hub.Stdout);
            var worker = run.Start(["worker", "--cluster", cluster, "--data", data.DataDir, "--token", run.Token, "--name", "r0", "--threads", "1"]);
            Assert.Equal(0, run.Hub.WaitForExit(180));
            Assert.Equal(0, worker.WaitForExit(60));
            Assert.Equal(2, run.Metrics.Count);
        }
        finally
        {
            redis.Kill();
            redis.WaitForExit();
            Directory.Delete(dir, recursive: true);
        }
    }
}
