using System.Diagnostics;
using System.Net;
using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using SeekSharp.Modeling;
using SeekSharp.Training;

namespace SeekSharp.Distributed.Pipeline;

// `seek base train --pipeline-stages S`: the command's process is the driver, an Orleans silo hosting the pipeline
// grain; on one machine it starts S `seek stage` processes itself, with --cluster it waits for S stages to join (as
// DiLoCo workers join a hub). It splits the layers (profiled or equal), sends each stage its plan and then runs the
// ordinary pretraining loop with a PipelineEngine. A stage that dies (its process exits, its lease of 20 s lapses or it
// reports an error) stops the run with one error naming the stage; checkpoints are written atomically, so the last one
// is intact and `--resume` continues from it, with any number of stages.

public sealed record PipelineOptions
{
    public required int Stages { get; init; }
    /// <summary>Routed-expert ranges (--expert-parallel): ranges 1..E-1 of every MoE layer live in E - 1 expert processes,
    /// which start (or join) as stages numbered after the pipeline's.</summary>
    public int ExpertParallel { get; init; } = 1;
    /// <summary>Every process the run needs: the stages and the expert processes.</summary>
    public int Processes => Stages + Math.Max(0, ExpertParallel - 1);
    /// <summary>Micro-batches per step; 0 = as many as stages.</summary>
    public int MicroBatches { get; init; }
    public string Schedule { get; init; } = "1f1b";
    /// <summary>"time" (profiled per-layer time) or "layers" (equal layer counts).</summary>
    public string Balance { get; init; } = "time";
    /// <summary>redis://HOST:PORT: stages join from other machines; null: the driver starts them here.</summary>
    public string? Cluster { get; init; }
    public string Host { get; init; } = "127.0.0.1";
    public int Port { get; init; } = 30200;
    /// <summary>Peak RSS in bytes each stage may reach; 0 = no limit.</summary>
    public long MaxMemory { get; init; }
    /// <summary>libtorch threads per stage; 0 = the cores divided among the stages.</summary>
    public int Threads { get; init; }
    public double LeaseSeconds { get; init; } = 20;
    public double JoinTimeoutSeconds { get; init; } = 300;
}

public static class PipelineHost
{
    /// <summary>Checks the flags against the model and batch before anything starts.</summary>
    public static int MicroBatches(PipelineOptions p, ModelConfig model, TrainConfig tc)
    {
        if (p.Stages < 1) throw new SeekSharpException($"--pipeline-stages: expected 1 or more, found {p.Stages}.");
        if (p.Stages > model.NumHiddenLayers)
            throw new SeekSharpException($"--pipeline-stages: {p.Stages} stages for {model.NumHiddenLayers} layers; each stage needs at least one layer (at most {model.NumHiddenLayers}).");
        int m = p.MicroBatches == 0 ? p.Stages : p.MicroBatches;
        if (m < 1 || tc.BatchSize % m != 0)
            throw new SeekSharpException($"--micro-batches: {m} does not divide --batch-size {tc.BatchSize} into equal micro-batches.");
        if (tc.GradAccum != 1) throw new SeekSharpException("--grad-accum: a pipeline accumulates over its --micro-batches; leave --grad-accum at 1.");
        if (model.NumNextnPredictLayers > 0) throw new SeekSharpException("--mtp-depth: pipeline stages train the main model only; use --mtp-depth 0.");
        if (tc.Device != "cpu") throw new SeekSharpException($"--device: pipeline stages run on the CPU (their payloads are host tensors); found '{tc.Device}'.");
        if (!PipelinePlan.Schedules.Contains(p.Schedule)) throw new SeekSharpException($"--schedule: expected 1f1b or gpipe, found '{p.Schedule}'.");
        if (p.Balance is not ("time" or "layers")) throw new SeekSharpException($"--pipeline-balance: expected time or layers, found '{p.Balance}'.");
        PipelineEngine.CheckExpertParallel(p.ExpertParallel, model);
        return m;
    }

    public static PretrainResult Train(PretrainOptions o, PipelineOptions p, ITrainingObserver? observer, Action<string> say)
    {
        int micro = MicroBatches(p, o.Model, o.Train);
        var address = IPAddress.Parse(p.Host);
        var token = Environment.GetEnvironmentVariable("SEEKSHARP_JOIN_TOKEN") is { Length: > 0 } given ? given : Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        var mailbox = new Mailbox();
        var admission = new Admission(Admission.Hash(token), p.Processes, o.Model, say);
        Cluster.CheckPortsFree(p.Cluster is null ? address : IPAddress.Any, p.Port, "the pipeline driver", "stages");
        using var silo = Cluster.BuildSilo(address, p.Port, p.Cluster, s => s.AddSingleton(mailbox).AddSingleton(admission));
        silo.StartAsync().GetAwaiter().GetResult();
        var children = new List<StageChild>();
        PipelineEngine? engine = null;
        try
        {
            say($"pipeline driver listening on {p.Cluster ?? $"{p.Host}:{p.Port}"}");
            say($"join token: {token}");
            var link = new MailboxLink(mailbox, () => Check(mailbox, admission, children, p.LeaseSeconds, o.RunDir, p.Stages));
            var opts = o with
            {
                Engine = (cfg, tc, seqLen) =>
                {
                    // The profile first: stage processes starting beside it would slow what it measures.
                    int threads = p.Threads > 0 ? p.Threads : Math.Max(1, Environment.ProcessorCount / p.Processes);
                    var spans = Split(cfg, tc, seqLen, micro, p, threads, say);
                    if (p.Cluster is null)
                        for (int i = 0; i < p.Processes; i++)
                        {
                            children.Add(new StageChild($"stage-{i}", ["stage", "--hub", $"{p.Host}:{p.Port}", "--name", $"stage-{i}", "--threads", $"{threads}"], token));
                            say($"started {children[^1].Name} (pid {children[^1].Pid})");
                        }
                    WaitForStages(admission, p, () => Check(mailbox, admission, children, p.LeaseSeconds, o.RunDir, p.Stages));
                    var plans = PipelineEngine.Plans(spans, cfg, tc, seqLen, micro, p.Schedule, p.MaxMemory, p.Threads, p.ExpertParallel);
                    foreach (var plan in plans.Where(x => x.ExpertRange > 0)) say($"{admission.Names[plan.Index]}: {plan.Span}");
                    foreach (var plan in plans) link.Send(Boxes.Plan(plan.Index), Wire.Json(plan));
                    return engine = new PipelineEngine(link, plans, cfg, tc, seqLen);
                },
            };
            var result = Pretrainer.Run(opts, observer);
            engine!.Stop();
            foreach (var c in children) c.WaitForExit(30);
            return result;
        }
        finally
        {
            foreach (var c in children) c.Dispose();
            try { silo.StopAsync().Wait(TimeSpan.FromSeconds(5)); } catch (Exception e) when (e is AggregateException or OperationCanceledException) { }
        }
    }

    /// <param name="threads">libtorch threads a stage computes with: the profile runs with as many.</param>
    static StageSpan[] Split(ModelConfig cfg, TrainConfig tc, int seqLen, int micro, PipelineOptions p, int threads, Action<string> say)
    {
        var costs = Enumerable.Repeat(1.0, cfg.NumHiddenLayers).ToArray();
        double embedHead = 0;
        if (p.Balance == "time" && p.Stages > 1)
        {
            int before = TorchSharp.torch.get_num_threads();
            TorchSharp.torch.set_num_threads(threads);
            try { (costs, embedHead) = PipelinePlan.Profile(cfg, tc.BatchSize / micro, seqLen, tc.Precision); }
            finally { TorchSharp.torch.set_num_threads(before); }
            say($"profile (one micro-batch, forward + backward): {string.Join(", ", costs.Select((c, i) => $"layer {i} {c * 1e3:F1} ms"))}, embedding + head {embedHead * 1e3:F1} ms");
        }
        var spans = PipelinePlan.Split(costs, p.Stages, 0, embedHead); // the embedding's lookup is cheap; the head's matmul is the cost
        foreach (var s in spans) say(s.ToString());
        return spans;
    }

    static void WaitForStages(Admission admission, PipelineOptions p, Action check)
    {
        var deadline = DateTime.UtcNow.AddSeconds(p.JoinTimeoutSeconds);
        while (admission.Names.Count < p.Processes)
        {
            check();
            if (DateTime.UtcNow > deadline)
                throw new SeekSharpException($"--pipeline-stages: {admission.Names.Count} of {p.Processes} stages{(p.ExpertParallel > 1 ? $" (expert processes included)" : "")} joined within {p.JoinTimeoutSeconds:G4} s.");
            Thread.Sleep(100);
        }
    }

    /// <summary>Throws, naming the stage, when one reported an error, exited, or stopped calling for a lease.</summary>
    static void Check(Mailbox mailbox, Admission admission, List<StageChild> children, double lease, string runDir, int stages)
    {
        // Processes past the pipeline's stages hold expert ranges (--expert-parallel): say which.
        string Who(int k, string name) => k >= stages ? $"expert process {k - stages + 1} (stage {k}, {name})" : $"stage {k} ({name})";
        string Hint() => Checkpoints.TrainingCheckpoint.Latest(runDir) is { } latest
            ? $"its last checkpoint ({Path.GetFileName(latest)}) is intact; rerun with --resume to continue"
            : "no checkpoint had been written yet; start it again without --resume";
        var names = admission.Names;
        for (int k = 0; k < names.Count; k++)
            if (mailbox.Has(Boxes.Failure(k)))
            {
                var why = Encoding.UTF8.GetString(mailbox.Take(Boxes.Failure(k), TimeSpan.Zero).GetAwaiter().GetResult() ?? []);
                throw new SeekSharpException($"{Who(k, names[k])} failed: {why} The run stopped; {Hint()}.");
            }
        foreach (var c in children)
            if (c.Exited is { } code)
            {
                int k = names.ToList().IndexOf(c.Name);
                throw new SeekSharpException($"{(k >= 0 ? Who(k, c.Name) : $"stage ? ({c.Name})")}, pid {c.Pid}, exited with code {code}{c.LastError}. The run stopped; {Hint()}.");
            }
        for (int k = 0; k < names.Count; k++)
            if (mailbox.LastSeen(k) is { } t && (DateTime.UtcNow - t).TotalSeconds > lease)
                throw new SeekSharpException($"{Who(k, names[k])} has not called for {lease:G3} s. The run stopped; {Hint()}.");
    }

    /// <summary>A `seek stage` process this driver started; its output is kept for the error that names it.</summary>
    sealed class StageChild : IDisposable
    {
        readonly Process p;
        readonly List<string> errors = [];
        public string Name { get; }
        public int Pid => p.Id;

        public StageChild(string name, IEnumerable<string> args, string token)
        {
            Name = name;
            var self = Environment.ProcessPath ?? "dotnet";
            var psi = new ProcessStartInfo(self) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            if (Path.GetFileNameWithoutExtension(self) == "dotnet") psi.ArgumentList.Add(Assembly.GetEntryAssembly()!.Location);
            foreach (var a in args) psi.ArgumentList.Add(a);
            psi.Environment["SEEKSHARP_JOIN_TOKEN"] = token;
            psi.Environment["NO_COLOR"] = "1";
            p = new Process { StartInfo = psi };
            p.OutputDataReceived += (_, _) => { };
            p.ErrorDataReceived += (_, e) => { if (e.Data is { Length: > 0 } l) lock (errors) errors.Add(l); };
            p.Start();
            p.BeginOutputReadLine();
            p.BeginErrorReadLine();
        }

        public int? Exited => p.HasExited ? p.ExitCode : null;

        public string LastError { get { lock (errors) return errors.Count > 0 ? $" ({errors[^1]})" : ""; } }

        public void WaitForExit(int seconds) => p.WaitForExit(TimeSpan.FromSeconds(seconds));

        public void Dispose()
        {
            try { if (!p.HasExited) { p.Kill(entireProcessTree: true); p.WaitForExit(5000); } }
            catch (InvalidOperationException) { }
            p.Dispose();
        }
    }
}
