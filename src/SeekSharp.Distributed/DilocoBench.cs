using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using SeekSharp.Checkpoints;
using SeekSharp.Data;
using SeekSharp.IO;
using SeekSharp.Ledger;
using SeekSharp.Modeling;
using SeekSharp.Training;

namespace SeekSharp.Distributed;

// `seek bench diloco`: DiLoCo against synchronous training on the same tokens, on this machine. The hub and M workers
// are real `seek hub` / `seek worker` processes (each worker on its own shard); the baseline is `seek base train`'s
// Pretrainer in this process with an M-times larger batch for the same H x N steps, so both see M·B·T·H·N tokens.
// Both final models are scored by the hub's validation pass (batch 8, --eval-batches). Bytes: DiLoCo's payload bytes
// (the hub's ledger) against a ring all-reduce of fp32 gradients every step, in which each of M nodes sends
// 2(M-1)/M · 4P bytes per step (and receives as many): 8P(M-1) bytes sent per step in all.
// The fault run kills (SIGKILL) the last worker once half the rounds are done; the hub then needs M-1 updates.

public sealed record DilocoBenchOptions
{
    public required string Preset { get; init; }
    /// <summary>A model folder both start from (DiLoCo's setting: a pretrained model), instead of <see cref="Preset"/>'s
    /// random weights: the hub gets it as --model, the baseline as --init.</summary>
    public string? InitDir { get; init; }
    public required string DataDir { get; init; }
    public string OutDir { get; init; } = "bench-diloco";
    public int Workers { get; init; } = 2;
    public int InnerSteps { get; init; } = 50;
    public int OuterSteps { get; init; } = 10;
    public TrainConfig Inner { get; init; } = new() { BatchSize = 8 };
    public IReadOnlyList<string> Compress { get; init; } = [Codecs.Int8];
    public bool Fault { get; init; } = true;
    public int Port { get; init; } = 30100;
    public int EvalBatches { get; init; } = 8;
    public int Threads { get; init; } = 1;
    /// <summary>The hub's outer step (DiLoCo's defaults).</summary>
    public double OuterLr { get; init; } = 0.7;
    public double OuterMomentum { get; init; } = 0.9;
    /// <summary>How the training split is cut among the workers (DataShards: interleaved or contiguous).</summary>
    public string Shards { get; init; } = DataShards.Interleaved;
}

/// <param name="Bytes">Every payload byte once: what the hub sent plus what it received.</param>
/// <param name="BytesVsAllReduce">The all-reduce's bytes sent in all over <paramref name="Bytes"/>.</param>
/// <param name="PerLinkVsAllReduce">One all-reduce node's bytes (sent + received) over one worker's (sent + received, the mean):
/// the saving on each edge node's link; the hub's link carries M workers' traffic.</param>
public sealed record DilocoBenchRow(string Run, double ValLoss, double? Ratio, long Bytes, double? BytesVsAllReduce, double? PerLinkVsAllReduce,
    double WallSeconds, int Rounds);

public static class DilocoBench
{
    public static (IReadOnlyList<DilocoBenchRow> Rows, long AllReduceBytes, string Report) Run(DilocoBenchOptions o, string commandLine, Action<string> say)
    {
        if (o.Workers < 2) throw new SeekSharpException("--workers: expected 2 or more (the baseline's all-reduce needs two nodes).");
        if (o.InnerSteps < 1 || o.OuterSteps < 2) throw new SeekSharpException("--inner-steps/--outer-steps: expected >= 1 and >= 2.");
        foreach (var c in o.Compress) if (!Codecs.IsKnown(c)) throw new SeekSharpException($"--compress: '{c}', expected none or int8.");
        Directory.CreateDirectory(o.OutDir);
        var cfg = o.InitDir is not null ? Pretrainer.InitConfig(o.InitDir, 0) : Presets.Get(o.Preset);
        long parameters;
        using (var ds = TokenDataset.Open(o.DataDir))
        {
            if (o.InitDir is null) cfg = cfg with { VocabSize = ds.VocabSize };
            else Perplexity.CheckDataset(o.InitDir, ds, "run on");
            using var m = new Transformer(cfg.Validate(), o.Inner.Seed);
            parameters = m.parameters().Sum(p => p.numel());
        }
        int steps = o.InnerSteps * o.OuterSteps;
        long allReduce = 8L * parameters * (o.Workers - 1) * steps;
        say($"sharding {o.DataDir} into {o.Workers} worker datasets");
        var shards = DataShards.Split(o.DataDir, o.Workers, Path.Combine(o.OutDir, "shards"), o.Shards);

        var rows = new List<DilocoBenchRow>();
        say($"baseline: one process, batch {o.Workers * o.Inner.BatchSize}, {steps} steps");
        var baseDir = Path.Combine(o.OutDir, "baseline");
        if (Directory.Exists(baseDir)) Directory.Delete(baseDir, recursive: true);
        // The baseline gets the threads of one worker: each worker runs with --threads, and on a shared machine more
        // libtorch threads than free cores make every parallel region wait for a descheduled thread.
        TorchSharp.torch.set_num_threads(o.Threads);
        var clock = Stopwatch.StartNew();
        var tc = o.Inner with { Steps = steps, BatchSize = o.Workers * o.Inner.BatchSize, EvalEvery = 0, CheckpointEvery = 0 };
        Pretrainer.Run(new PretrainOptions(o.DataDir, baseDir, cfg, tc, InitDir: o.InitDir));
        double baseWall = clock.Elapsed.TotalSeconds;
        double baseLoss = Score(baseDir, o);
        rows.Add(new DilocoBenchRow("baseline (synchronous, batch x M)", baseLoss, 1.0, allReduce, 1.0, 1.0, baseWall, steps));
        say($"baseline: val loss {baseLoss:F4}, {baseWall:F1} s");

        int port = o.Port;
        foreach (var c in o.Compress)
        {
            rows.Add(Diloco(o, shards, c, kill: false, port, baseLoss, allReduce, say));
            port += 2;
        }
        if (o.Fault) rows.Add(Diloco(o, shards, o.Compress[0], kill: true, port, baseLoss, allReduce, say));
        var report = Write(o, rows, allReduce, parameters, commandLine);
        return (rows, allReduce, report);
    }

    static double Score(string modelDir, DilocoBenchOptions o)
    {
        using var ds = TokenDataset.Open(o.DataDir);
        using var model = ModelFiles.Load(modelDir);
        model.SetComputeType(Transformer.ComputeTypeOf(o.Inner.Precision));
        model.eval();
        int seqLen = o.Inner.SeqLen == 0 ? model.Config.MaxPositionEmbeddings : o.Inner.SeqLen;
        return Perplexity.Measure(model, new TokenBatchSampler(ds.Val), Hub.EvalBatchSize, seqLen, o.EvalBatches, new TorchSharp.torch.Device("cpu")).Loss;
    }

    static DilocoBenchRow Diloco(DilocoBenchOptions o, IReadOnlyList<string> shards, string compress, bool kill, int port, double baseLoss, long allReduce, Action<string> say)
    {
        var name = $"diloco-{compress}{(kill ? "-killed" : "")}";
        var run = Path.Combine(o.OutDir, name);
        if (Directory.Exists(run)) Directory.Delete(run, recursive: true);
        Directory.CreateDirectory(run);
        var t = o.Inner;
        var hubArgs = new List<string> { "hub", "--data", o.DataDir, o.InitDir is null ? "--preset" : "--model", o.InitDir ?? o.Preset, "--out", Path.Combine(run, "hub"),
            "--inner-steps", $"{o.InnerSteps}", "--outer-steps", $"{o.OuterSteps}", "--compress", compress, "--port", $"{port}",
            "--outer-lr", F(o.OuterLr), "--outer-momentum", F(o.OuterMomentum),
            "--min-workers", $"{(kill ? o.Workers - 1 : o.Workers)}", "--start-workers", $"{o.Workers}", "--lease", kill ? "5" : "30", "--round-timeout", "1800",
            "--batch-size", $"{t.BatchSize}", "--seq-len", $"{t.SeqLen}", "--lr", F(t.LearningRate), "--warmup", $"{t.WarmupSteps}",
            "--precision", t.Precision, "--seed", $"{t.Seed}", "--eval-batches", $"{o.EvalBatches}" };
        say($"{name}: hub on port {port}, {o.Workers} workers{(kill ? $", the last killed after round {o.OuterSteps / 2}" : "")}");
        var clock = Stopwatch.StartNew();
        using var hub = new Child(hubArgs, Path.Combine(run, "hub.log"));
        var token = hub.WaitFor(@"join token: ([0-9a-f]+)", 300).Groups[1].Value;
        var workers = shards.Select((s, k) => new Child(["worker", "--hub", $"127.0.0.1:{port}", "--data", s, "--token", token, "--name", $"w{k}",
            "--threads", $"{o.Threads}"], Path.Combine(run, $"worker_{k}.log"))).ToList();
        try
        {
            if (kill)
            {
                hub.WaitFor($@"round {o.OuterSteps / 2}/{o.OuterSteps} ", 24 * 3600);
                workers[^1].Kill();
                say($"{name}: killed w{o.Workers - 1} (SIGKILL) after round {o.OuterSteps / 2}");
            }
            int code = hub.Wait(24 * 3600);
            if (code != 0) throw new SeekSharpException($"{name}: the hub exited with {code}; see {Path.Combine(run, "hub.log")}.");
        }
        finally { foreach (var w in workers) { w.Wait(60); w.Dispose(); } }
        double wall = clock.Elapsed.TotalSeconds;
        var ledger = LedgerEntry.Read(Path.Combine(run, "hub", "ledger.json"));
        long bytes = (ledger.Network?.BytesSent ?? 0) + (ledger.Network?.BytesReceived ?? 0);
        double loss = Score(Path.Combine(run, "hub"), o);
        // One all-reduce node sends and receives 2(M-1)/M · 4P bytes per step each way.
        double nodeBytes = 2.0 * allReduce / o.Workers;
        var peers = ledger.Network?.Peers.Values.ToList() ?? [];
        double workerBytes = peers.Count == 0 ? 0 : peers.Average(p => (double)(p.BytesSent + p.BytesReceived));
        say($"{name}: val loss {loss:F4} ({loss / baseLoss:F4}x the baseline), {bytes:N0} B ({(double)allReduce / Math.Max(1, bytes):F1}x fewer than all-reduce), {wall:F1} s");
        return new DilocoBenchRow(name, loss, loss / baseLoss, bytes, (double)allReduce / Math.Max(1, bytes), nodeBytes / Math.Max(1, workerBytes), wall,
            ledger.Network?.Rounds ?? 0);
    }

    static string F(double v) => v.ToString("R", CultureInfo.InvariantCulture);

    static string Write(DilocoBenchOptions o, List<DilocoBenchRow> rows, long allReduce, long parameters, string commandLine)
    {
        var md = new StringBuilder($"# seek bench diloco\n\n`{commandLine}`\n\n");
        md.Append(CultureInfo.InvariantCulture, $"{(o.InitDir is null ? o.Preset : "from " + o.InitDir)} ({parameters:N0} parameters), M = {o.Workers} workers, H = {o.InnerSteps}, N = {o.OuterSteps}, batch {o.Inner.BatchSize} per worker " +
            $"(baseline {o.Workers * o.Inner.BatchSize}), {o.Inner.Precision}, outer lr {o.OuterLr:G3}, momentum {o.OuterMomentum:G3}, {o.Shards} shards. All-reduce reference: {allReduce:N0} bytes.\n\n");
        md.Append("| run | val loss | vs baseline | bytes (all) | all-reduce / bytes | per worker link | wall s | rounds |\n|---|---|---|---|---|---|---|---|\n");
        foreach (var r in rows)
            md.Append(CultureInfo.InvariantCulture, $"| {r.Run} | {r.ValLoss:F4} | {r.Ratio:F4} | {r.Bytes:N0} | {r.BytesVsAllReduce:F1}x | {r.PerLinkVsAllReduce:F1}x | {r.WallSeconds:F1} | {r.Rounds} |\n");
        md.Append("\n\"bytes (all)\": every payload byte once (the hub's sent + received); \"per worker link\": one all-reduce node's traffic over one worker's. " +
            "The baseline trains in one process with the threads of one worker.\n");
        var path = Path.Combine(o.OutDir, "diloco.md");
        AtomicFile.WriteAllText(path, md.ToString());
        AtomicFile.WriteAllText(Path.Combine(o.OutDir, "diloco.json"), JsonSerializer.Serialize(rows, new JsonSerializerOptions { WriteIndented = true }));
        return path;
    }

    /// <summary>This same `seek` as a child process, its output going to a log file and kept for WaitFor.</summary>
    sealed class Child : IDisposable
    {
        readonly Process p;
        readonly StringBuilder output = new();
        readonly StreamWriter log;

        public Child(IEnumerable<string> args, string logPath)
        {
            var self = Environment.ProcessPath ?? "dotnet";
            var psi = new ProcessStartInfo(self) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            if (Path.GetFileNameWithoutExtension(self) == "dotnet") psi.ArgumentList.Add(Assembly.GetEntryAssembly()!.Location);
            foreach (var a in args) psi.ArgumentList.Add(a);
            psi.Environment["NO_COLOR"] = "1";
            log = new StreamWriter(logPath) { AutoFlush = true };
            p = new Process { StartInfo = psi };
            p.OutputDataReceived += (_, e) => Add(e.Data);
            p.ErrorDataReceived += (_, e) => Add(e.Data);
            p.Start();
            p.BeginOutputReadLine();
            p.BeginErrorReadLine();
        }

        void Add(string? line)
        {
            if (line is null) return;
            lock (output) { output.AppendLine(line); log.WriteLine(line); }
        }

        public Match WaitFor(string pattern, int seconds)
        {
            var deadline = DateTime.UtcNow.AddSeconds(seconds);
            while (DateTime.UtcNow < deadline)
            {
                Match m;
                lock (output) m = Regex.Match(output.ToString(), pattern);
                if (m.Success) return m;
                if (p.HasExited) break;
                Thread.Sleep(100);
            }
            lock (output) throw new SeekSharpException($"a child `seek` did not print /{pattern}/: {output.ToString().Split('\n').LastOrDefault(l => l.Contains("error")) ?? "see its log"}");
        }

        public int Wait(int seconds)
        {
            if (!p.WaitForExit(seconds * 1000)) Kill();
            p.WaitForExit();
            return p.ExitCode;
        }

        public void Kill() { if (!p.HasExited) { p.Kill(entireProcessTree: true); p.WaitForExit(); } }

        public void Dispose() { Kill(); p.Dispose(); log.Dispose(); }
    }
}
