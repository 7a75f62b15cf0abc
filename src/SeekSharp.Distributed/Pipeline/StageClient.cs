using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using static TorchSharp.torch;

namespace SeekSharp.Distributed.Pipeline;

// `seek stage`: an Orleans client of a pipeline driver. It joins (token, build, optionally the model it expects), waits
// for its plan, builds its part of the model and serves the driver's commands until told to stop. A heartbeat renews
// its lease while it computes. Its own error (e.g. --max-memory passed) is sent to the driver before it exits, so the
// driver's error names it; a driver that is gone ends the stage with one error line.

public sealed record StageOptions
{
    public string? Hub { get; init; }
    public string? Cluster { get; init; }
    public required string Token { get; init; }
    public string Name { get; init; } = $"{Environment.MachineName}-{Environment.ProcessId}";
    /// <summary>config.json text of the model this stage expects (`--preset`), or null to take the driver's.</summary>
    public string? ModelConfigJson { get; init; }
    public int Threads { get; init; }
    public double ConnectTimeoutSeconds { get; init; } = 60;
}

public static class StageClient
{
    public static StagePlan Run(StageOptions o, Action<string> say)
    {
        if (o.Hub is null && o.Cluster is null) throw new SeekSharpException("--hub: expected HOST:PORT (or --cluster redis://HOST:PORT).");
        var endpoint = o.Hub is null ? null : Cluster.ParseEndpoint(o.Hub, "--hub");
        if (o.Threads > 0) set_num_threads(o.Threads);
        using var client = Connect(endpoint, o);
        var grain = client.Services.GetRequiredService<IClusterClient>().GetGrain<IPipelineGrain>(Cluster.GrainKey);
        IStageLink? link = null;
        int stage = -1;
        try
        {
            var reply = grain.Join(new StageJoin { Token = o.Token, Name = o.Name, Version = Admission.CodeVersion, ModelConfigJson = o.ModelConfigJson })
                .GetAwaiter().GetResult();
            if (!reply.Accepted) throw new SeekSharpException($"refused by the driver: {reply.Reason}");
            stage = reply.Stage;
            link = new GrainLink(grain, stage);
            using var beat = new Timer(_ => { try { grain.Beat(stage).Wait(5000); } catch (AggregateException) { } }, null, 0, 2000);
            var plan = Wire.Json<StagePlan>(link.Receive(Boxes.Plan(stage)));
            if (o.Threads == 0 && plan.Threads > 0) set_num_threads(plan.Threads);
            if (plan.ExpertRange > 0)
            {
                using var experts = new ExpertStage(plan, link);
                say($"{o.Name}: {experts.Span}");
                experts.Serve();
            }
            else
            {
                using var run = new PipelineStage(plan, link);
                say($"{o.Name}: {run.Span}");
                run.Serve();
            }
            say($"{o.Name}: done, {link.BytesSent:N0} B sent, {link.BytesReceived:N0} B received");
            return plan;
        }
        catch (SeekSharpException e) when (link is not null)
        {
            try { link.Send(Boxes.Failure(stage), Encoding.UTF8.GetBytes(e.Message)); } catch (Exception) { }
            throw;
        }
        catch (Exception e) when (e is not SeekSharpException && IsTransport(e))
        {
            throw new SeekSharpException($"stage {(stage >= 0 ? stage : "?")} ({o.Name}): lost the driver ({e.GetType().Name}).");
        }
        finally { try { client.StopAsync(TimeSpan.FromSeconds(2)).GetAwaiter().GetResult(); } catch (Exception) { } }
    }

    static bool IsTransport(Exception e) => e is TimeoutException or OrleansException or System.Net.Sockets.SocketException or IOException
        or InvalidOperationException or AggregateException || e.GetType().Namespace?.StartsWith("Orleans", StringComparison.Ordinal) == true;

    static IHost Connect(System.Net.IPEndPoint? endpoint, StageOptions o)
    {
        var deadline = DateTime.UtcNow.AddSeconds(o.ConnectTimeoutSeconds);
        double wait = 0.5;
        while (true)
        {
            var host = Cluster.BuildClient(endpoint, o.Cluster, TimeSpan.FromSeconds(30));
            try
            {
                host.StartAsync().GetAwaiter().GetResult();
                return host;
            }
            catch (Exception e) when (IsTransport(e))
            {
                host.Dispose();
                if (DateTime.UtcNow.AddSeconds(wait) > deadline)
                    throw new SeekSharpException($"--hub: cannot reach the pipeline driver at {o.Cluster ?? o.Hub} (gave up after {o.ConnectTimeoutSeconds:G4} s).");
                Thread.Sleep(TimeSpan.FromSeconds(wait));
                wait = Math.Min(5, wait * 2);
            }
        }
    }
}
