using System.CommandLine;
using SeekSharp.Distributed.Pipeline;
using SeekSharp.Modeling;

namespace SeekSharp.Cli.Commands;

/// <summary>`seek stage`: one pipeline stage of a `seek base train --pipeline-stages S` run (src/SeekSharp.Distributed/Pipeline).</summary>
public static class StageCommand
{
    public static Command Create()
    {
        var hub = new Option<string?>("--hub") { Description = "The pipeline driver's HOST:PORT." };
        var cluster = new Option<string?>("--cluster") { Description = "Find the driver through Redis membership: redis://HOST:PORT." };
        var token = new Option<string?>("--token") { Description = "The run's join token (printed by the driver); default $SEEKSHARP_JOIN_TOKEN." };
        var preset = new Option<string?>("--preset") { Description = "The model this stage expects; refused when the run trains another." };
        var name = new Option<string?>("--name") { Description = "This stage's name in the driver's messages (default HOST-PID)." };
        var threads = new Option<int>("--threads") { Description = "libtorch threads (0 = the driver's choice).", DefaultValueFactory = _ => 0 };
        var connect = new Option<double>("--connect-timeout") { Description = "Seconds to keep retrying an unreachable driver.", DefaultValueFactory = _ => 60 };
        var stage = new Command("stage", "Run one pipeline stage: join a `seek base train --pipeline-stages` driver, hold its layers, train them.")
            { hub, cluster, token, preset, name, threads, connect };
        stage.SetAction(p => SeekApp.Guard(() =>
        {
            var tok = p.GetValue(token) ?? Environment.GetEnvironmentVariable("SEEKSHARP_JOIN_TOKEN")
                ?? throw new SeekSharpException("--token: required (the driver prints it), or set SEEKSHARP_JOIN_TOKEN.");
            if (p.GetValue(threads) < 0 || p.GetValue(connect) <= 0) throw new SeekSharpException("--threads/--connect-timeout: expected numbers >= 0 (the timeout > 0).");
            var o = new StageOptions
            {
                Hub = p.GetValue(hub), Cluster = p.GetValue(cluster), Token = tok, Threads = p.GetValue(threads), ConnectTimeoutSeconds = p.GetValue(connect),
                ModelConfigJson = p.GetValue(preset) is { } pr ? Presets.Get(pr).ToJson() : null,
            };
            if (p.GetValue(name) is { } n) o = o with { Name = n };
            StageClient.Run(o, Say);
            return 0;
        }));
        return stage;
    }

    static void Say(string line)
    {
        Console.Out.WriteLine($"[{DateTime.Now:HH:mm:ss}] {line}");
        Console.Out.Flush();
    }
}
