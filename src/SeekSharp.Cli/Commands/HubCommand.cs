using System.CommandLine;
using SeekSharp.Distributed;
using SeekSharp.Modeling;
using SeekSharp.Training;
using Spectre.Console;

namespace SeekSharp.Cli.Commands;

/// <summary>`seek hub` and `seek worker`: DiLoCo training across processes and machines (src/SeekSharp.Distributed).</summary>
public static class HubCommand
{
    public static Command Create()
    {
        var data = new Option<string>("--data") { Description = "Token dataset of the run's tokenizer; its validation split scores every round.", Required = true };
        var preset = new Option<string?>("--preset") { Description = $"Model preset: {string.Join(", ", Presets.Names)}." };
        var model = new Option<string?>("--model") { Description = "Model folder whose weights start the run (instead of --preset)." };
        var output = Options.Out("Run folder: checkpoints/round_N, metrics.jsonl, ledger.json, report.md, the final model.");
        var inner = new Option<int>("--inner-steps") { Description = "H: inner AdamW steps per worker per round.", Required = true };
        var outer = new Option<int>("--outer-steps") { Description = "N: rounds (outer Nesterov steps).", Required = true };
        var outerLr = new Option<double>("--outer-lr") { Description = "Outer learning rate.", DefaultValueFactory = _ => 0.7 };
        var outerMomentum = new Option<double>("--outer-momentum") { Description = "Outer Nesterov momentum.", DefaultValueFactory = _ => 0.9 };
        var compress = new Option<string>("--compress") { Description = "Pseudo-gradients and weight changes as int8 (per-block scales, error feedback) or none (fp32).", DefaultValueFactory = _ => "none" };
        compress.AcceptOnlyFromAmong("none", "int8");
        var minWorkers = new Option<int>("--min-workers") { Description = "Updates a round needs before it may close.", DefaultValueFactory = _ => 1 };
        var startWorkers = new Option<int>("--start-workers") { Description = "Workers to wait for before the first round (0 = --min-workers).", DefaultValueFactory = _ => 0 };
        var timeout = new Option<double>("--round-timeout") { Description = "Seconds a round waits for its workers.", DefaultValueFactory = _ => 600 };
        var lease = new Option<double>("--lease") { Description = "Seconds of silence after which a worker is dropped.", DefaultValueFactory = _ => 15 };
        var host = new Option<string>("--host") { Description = "Address to listen on (loopback unless told otherwise).", DefaultValueFactory = _ => "127.0.0.1" };
        var port = new Option<int>("--port") { Description = "Port workers connect to (the silo also takes PORT + 1).", DefaultValueFactory = _ => 30000 };
        var cluster = new Option<string?>("--cluster") { Description = "Membership in Redis: redis://HOST:PORT (default: localhost clustering)." };
        var resume = new Option<bool>("--resume") { Description = "Continue from the run folder's latest round checkpoint." };
        var batch = new Option<int>("--batch-size") { Description = "Sequences per inner step (a worker may override).", DefaultValueFactory = _ => 16 };
        var seqLen = new Option<int>("--seq-len") { Description = "Tokens per sequence (0 = the model's context).", DefaultValueFactory = _ => 0 };
        var lr = new Option<double>("--lr") { Description = "Inner AdamW peak learning rate (cosine over H x N steps).", DefaultValueFactory = _ => 3e-3 };
        var warmup = new Option<int>("--warmup") { Description = "Inner warmup steps.", DefaultValueFactory = _ => 20 };
        var precision = new Option<string>("--precision") { Description = "bf16 or fp32.", DefaultValueFactory = _ => "bf16" };
        precision.AcceptOnlyFromAmong("bf16", "fp32");
        var seed = new Option<int>("--seed") { Description = "Seed for the initial weights and the workers' batches.", DefaultValueFactory = _ => 1337 };
        var evalBatches = new Option<int>("--eval-batches") { Description = "Validation batches (of 8) per round.", DefaultValueFactory = _ => 8 };
        var hardware = Options.Hardware();
        var hub = new Command("hub", "Run a DiLoCo hub: an Orleans silo that averages the workers' pseudo-gradients each round.")
            { data, preset, model, output, inner, outer, outerLr, outerMomentum, compress, minWorkers, startWorkers, timeout, lease, host, port, cluster, resume,
              batch, seqLen, lr, warmup, precision, seed, evalBatches, hardware };
        hub.SetAction(p => SeekApp.Guard(() =>
        {
            var (presetName, modelDir) = (p.GetValue(preset), p.GetValue(model));
            if (presetName is not null && modelDir is not null) throw new SeekSharpException("--preset/--model: give one, not both.");
            var o = new HubOptions
            {
                DataDir = p.GetValue(data)!, RunDir = p.GetValue(output)!, ModelDir = modelDir,
                Model = modelDir is null ? Presets.Get(presetName ?? throw new SeekSharpException("--preset/--model: expected one of them.")) : null,
                Inner = new TrainConfig
                {
                    BatchSize = p.GetValue(batch), SeqLen = p.GetValue(seqLen), LearningRate = p.GetValue(lr), WarmupSteps = p.GetValue(warmup),
                    Precision = p.GetValue(precision)!, Seed = p.GetValue(seed),
                },
                InnerSteps = p.GetValue(inner), OuterSteps = p.GetValue(outer), OuterLr = p.GetValue(outerLr), OuterMomentum = p.GetValue(outerMomentum),
                Compress = p.GetValue(compress)!, MinWorkers = p.GetValue(minWorkers), StartWorkers = p.GetValue(startWorkers), RoundTimeoutSeconds = p.GetValue(timeout),
                LeaseSeconds = p.GetValue(lease), Host = p.GetValue(host)!, Port = p.GetValue(port), Cluster = p.GetValue(cluster),
                Resume = p.GetValue(resume), EvalBatches = p.GetValue(evalBatches), HardwareProfilePath = p.GetValue(hardware),
            };
            var r = Hub.Run(o, Say);
            var report = HubReport.Write(r.RunDir);
            var t = new Table().AddColumns("rounds", "val loss", "bytes sent", "bytes received", "wall", "kWh", "USD");
            t.AddRow($"{r.Rounds}", r.FinalValLoss is { } v ? $"{v:F4}" : "-", $"{r.BytesSent:N0}", $"{r.BytesReceived:N0}",
                $"{TimeSpan.FromSeconds(r.Seconds):hh\\:mm\\:ss}", $"{r.Ledger.EnergyKwh:F4}", $"{r.Ledger.Usd:F4}");
            AnsiConsole.Write(t);
            AnsiConsole.MarkupLineInterpolated($"run folder: [bold]{r.RunDir}[/] (model.safetensors, checkpoints/, metrics.jsonl, ledger.json, {Path.GetFileName(report)})");
            return 0;
        }));
        return hub;
    }

    public static Command CreateWorker()
    {
        var hubAddr = new Option<string?>("--hub") { Description = "The hub's HOST:PORT." };
        var cluster = new Option<string?>("--cluster") { Description = "Find the hub through Redis membership: redis://HOST:PORT." };
        var data = new Option<string?>("--data") { Description = "This worker's token dataset (its training split; it never leaves this machine)." };
        var getTokenizer = new Option<string?>("--get-tokenizer") { Description = "Download the run's tokenizer into this folder and exit (for `seek data prepare --tokenizer`)." };
        var token = new Option<string?>("--token") { Description = "The run's join token (printed by the hub); default $SEEKSHARP_JOIN_TOKEN." };
        var batch = new Option<int>("--batch-size") { Description = "Sequences per inner step (0 = the hub's).", DefaultValueFactory = _ => 0 };
        var threads = new Option<int>("--threads") { Description = "libtorch threads (0 = default).", DefaultValueFactory = _ => 0 };
        var name = new Option<string?>("--name") { Description = "This worker's name in the hub's accounting (default HOST-PID)." };
        var connect = new Option<double>("--connect-timeout") { Description = "Seconds to keep retrying an unreachable hub.", DefaultValueFactory = _ => 120 };
        var delay = new Option<int>("--inner-delay") { Description = "Milliseconds to sleep after each inner step (simulates a slow node).", DefaultValueFactory = _ => 0 };
        var worker = new Command("worker", "Run a DiLoCo worker: join a hub, train H inner steps per round on local data, send pseudo-gradients.")
            { hubAddr, cluster, data, token, batch, threads, name, connect, delay, getTokenizer };
        worker.SetAction(p => SeekApp.Guard(() =>
        {
            var tok = p.GetValue(token) ?? Environment.GetEnvironmentVariable("SEEKSHARP_JOIN_TOKEN")
                ?? throw new SeekSharpException("--token: required (the hub prints it), or set SEEKSHARP_JOIN_TOKEN.");
            var tokenizerDir = p.GetValue(getTokenizer);
            var dataDir = p.GetValue(data) ?? (tokenizerDir is null ? throw new SeekSharpException("--data: required (the worker's token dataset).") : "");
            var o = new WorkerOptions
            {
                Hub = p.GetValue(hubAddr), Cluster = p.GetValue(cluster), DataDir = dataDir, Token = tok,
                BatchSize = p.GetValue(batch), Threads = p.GetValue(threads), ConnectTimeoutSeconds = p.GetValue(connect), InnerDelayMs = p.GetValue(delay),
            };
            if (p.GetValue(name) is { } n) o = o with { Name = n };
            if (o.BatchSize < 0 || o.Threads < 0 || o.InnerDelayMs < 0 || o.ConnectTimeoutSeconds <= 0)
                throw new SeekSharpException("--batch-size/--threads/--inner-delay/--connect-timeout: expected numbers >= 0 (the timeout > 0).");
            if (tokenizerDir is not null)
            {
                foreach (var f in new Worker(o, Say).FetchTokenizer(tokenizerDir)) Say($"wrote {f}");
                return 0;
            }
            var r = new Worker(o, Say).Run();
            Say($"worker {o.Name}: {r.Rounds} rounds ({r.Accepted} accepted), {r.Tokens:N0} tokens, {r.BytesSent:N0} B sent, {r.BytesReceived:N0} B received, {r.Seconds:F1} s");
            return 0;
        }));
        return worker;
    }

    static void Say(string line)
    {
        Console.Out.WriteLine($"[{DateTime.Now:HH:mm:ss}] {line}");
        Console.Out.Flush();
    }
}
