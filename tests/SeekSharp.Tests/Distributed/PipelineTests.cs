using SeekSharp.Checkpoints;
using SeekSharp.Distributed.Pipeline;
using SeekSharp.Modeling;
using SeekSharp.Tests.Training;
using SeekSharp.Training;
using static TorchSharp.torch;

namespace SeekSharp.Tests.Distributed;

/// <summary>Pipeline stages in one process (each stage on its own thread, all on the driver's mailbox): the split, the
/// schedules, and the same tiny fp32 run with 1, 2 and 4 stages giving the same losses step for step.</summary>
[Collection("DilocoProcesses")] // their stage threads would load the two cores under the process tests' leases
public class PipelineTests(TinyDataset data) : TempDirTest, IClassFixture<TinyDataset>
{
    static readonly TrainConfig Fast = TinyDataset.Fast with { Steps = 6, BatchSize = 4, CheckpointEvery = 3 };

    [Theory]
    [InlineData("1f1b")]
    [InlineData("gpipe")]
    public void SchedulesRunEveryMicroBatchOnceAndOneFOneBKeepsAtMostSAlive(string schedule)
    {
        for (int s = 1; s <= 4; s++)
            for (int m = 1; m <= 6; m++)
            {
                var ops = Enumerable.Range(0, s).Select(k => PipelinePlan.Ops(schedule, k, s, m)).ToArray();
                for (int k = 0; k < s; k++)
                {
                    Assert.Equal(Enumerable.Range(0, m), ops[k].Where(o => o.Kind == PipelineOpKind.Forward).Select(o => o.Micro));
                    Assert.Equal(Enumerable.Range(0, m), ops[k].Where(o => o.Kind == PipelineOpKind.Backward).Select(o => o.Micro));
                    int live = PipelinePlan.MaxLive(ops[k]);
                    if (schedule == "gpipe") Assert.Equal(m, live);
                    else Assert.Equal(Math.Min(s - k, m), live);
                }
                Simulate(ops, s, m);
            }
    }

    /// <summary>Runs the stages' op lists against each other's messages: each op waits for what it needs (a forward for the
    /// previous stage's forward, a backward for the next stage's backward); the schedule must never deadlock.</summary>
    static void Simulate(IReadOnlyList<PipelineOp>[] ops, int s, int m)
    {
        var done = new HashSet<(int, PipelineOpKind, int)>();
        var next = new int[s];
        for (bool moved = true; moved;)
        {
            moved = false;
            for (int k = 0; k < s; k++)
            {
                if (next[k] == ops[k].Count) continue;
                var op = ops[k][next[k]];
                bool ready = op.Kind == PipelineOpKind.Forward
                    ? k == 0 || done.Contains((k - 1, PipelineOpKind.Forward, op.Micro))
                    : k == s - 1 || done.Contains((k + 1, PipelineOpKind.Backward, op.Micro));
                if (!ready) continue;
                done.Add((k, op.Kind, op.Micro));
                next[k]++;
                moved = true;
            }
        }
        Assert.All(next, (n, k) => Assert.Equal(2 * m, n));
    }

    [Fact]
    public void SplitMinimizesTheSlowestStageAndKeepsEveryStageNonEmpty()
    {
        Assert.Equal([(0, 2), (2, 4)], PipelinePlan.Split([1, 1, 1, 1], 2).Select(x => (x.FirstLayer, x.EndLayer)));
        Assert.Equal([(0, 3), (3, 4)], PipelinePlan.Split([1, 1, 1, 5], 2).Select(x => (x.FirstLayer, x.EndLayer)));
        // The head's cost counts on the last stage: it then takes fewer layers.
        Assert.Equal([(0, 3), (3, 4)], PipelinePlan.Split([1, 1, 1, 1], 2, headCost: 2).Select(x => (x.FirstLayer, x.EndLayer)));
        Assert.Equal([(0, 1), (1, 2), (2, 3), (3, 4)], PipelinePlan.Split([9, 1, 1, 1], 4).Select(x => (x.FirstLayer, x.EndLayer)));
        Assert.Throws<ArgumentOutOfRangeException>(() => PipelinePlan.Split([1, 1], 3));
    }

    [Fact]
    public void AStageHoldsOnlyItsPartAndItsWeightsAreTheWholeModels()
    {
        var cfg = Presets.Get("tiny") with { VocabSize = 300 };
        using var whole = new Transformer(cfg, 5);
        var all = whole.state_dict();
        long trained = 0;
        foreach (var span in PipelinePlan.Split([1, 1, 1, 1], 2))
        {
            using var part = Transformer.ForStage(cfg, 5, span);
            foreach (var (name, t) in part.state_dict())
                if (span.Holds(name, cfg.TieWordEmbeddings)) Assert.True(t.allclose(all[name], rtol: 0, atol: 0), name);
                else if (whole.named_parameters().Any(p => p.name == name)) Assert.Equal(0, t.numel());
            trained += part.parameters().Where(p => p.requires_grad).Sum(p => p.numel());
        }
        // Every parameter once, and the tied embedding twice (the last stage's head).
        Assert.Equal(whole.parameters().Sum(p => p.numel()) + whole.named_parameters().First(p => p.name == "model.embed_tokens.weight").parameter.numel(), trained);
    }

    [Fact]
    public void AdmissionRefusesAnotherBuildAnotherModelAndAWrongToken()
    {
        var run = Presets.Get("tiny");
        var hash = Admission.Hash("secret");
        StageJoin Join(string token = "secret", string? version = null, string? model = null) =>
            new() { Token = token, Name = "s", Version = version ?? Admission.CodeVersion, ModelConfigJson = model };
        Assert.Null(Admission.Check(Join(), hash, run, Admission.CodeVersion));
        Assert.Null(Admission.Check(Join(model: (run with { VocabSize = 77 }).ToJson()), hash, run, Admission.CodeVersion));
        Assert.Contains("join token", Admission.Check(Join("guess"), hash, run, Admission.CodeVersion));
        Assert.Contains("code version pipeline-0", Admission.Check(Join(version: "pipeline-0/x"), hash, run, Admission.CodeVersion));
        Assert.Contains("--preset small", Admission.Check(Join(model: Presets.Get("small").ToJson()), hash, run, Admission.CodeVersion));
        var admission = new Admission(hash, 1, run);
        Assert.True(admission.Join(Join()).Accepted);
        Assert.Contains("already has its 1 stage", admission.Join(Join()).Reason);
    }

    /// <summary>A pretraining run whose steps run on <paramref name="stages"/> in-process stages (equal layer counts).</summary>
    PretrainResult Train(string run, int stages, int micro, string schedule = "1f1b", TrainConfig? tc = null, bool resume = false) =>
        TrainInProcess(data.DataDir, run, stages, micro, tc ?? Fast, schedule, resume);

    /// <summary>A `tiny` pretraining run on <paramref name="stages"/> in-process stages (equal layer counts) and, with
    /// <paramref name="experts"/> &gt; 1, expert processes, all on threads over the driver's mailbox.</summary>
    internal static PretrainResult TrainInProcess(string dataDir, string run, int stages, int micro, TrainConfig tc, string schedule = "1f1b",
        bool resume = false, int experts = 1)
    {
        var mailbox = new Mailbox();
        var threads = new List<Thread>();
        Exception? failure = null;
        var driver = new MailboxLink(mailbox, () => { if (failure is not null) throw new SeekSharpException($"a stage failed: {failure}"); });
        PipelineEngine? engine = null;
        var o = new PretrainOptions(dataDir, run, Presets.Get("tiny"), tc, resume, Engine: (cfg, t, seqLen) =>
        {
            PipelineEngine.CheckExpertParallel(experts, cfg);
            var spans = PipelinePlan.Split(Enumerable.Repeat(1.0, cfg.NumHiddenLayers).ToList(), stages);
            var plans = PipelineEngine.Plans(spans, cfg, t, seqLen, micro, schedule, 0, 0, experts);
            foreach (var plan in plans)
            {
                var th = new Thread(() =>
                {
                    try
                    {
                        if (plan.ExpertRange > 0) { using var x = new ExpertStage(plan, new MailboxLink(mailbox)); x.Serve(); }
                        else { using var stage = new PipelineStage(plan, new MailboxLink(mailbox)); stage.Serve(); }
                    }
                    catch (Exception e) { failure = e; }
                });
                th.Start();
                threads.Add(th);
            }
            return engine = new PipelineEngine(driver, plans, cfg, t, seqLen);
        });
        try { return Pretrainer.Run(o); }
        finally
        {
            engine?.Stop();
            foreach (var th in threads) th.Join();
            Assert.Null(failure);
        }
    }

    static List<double> Column(string run, string name) =>
        SeekSharp.Ledger.MetricsLog.Read(Path.Combine(run, SeekSharp.Ledger.MetricsLog.FileName))
            .Where(r => r[name] is not null).Select(r => r[name]!.GetValue<double>()).ToList();

    [Fact]
    public void OneTwoAndFourStagesGiveTheSameLossesAsOneBigBatch()
    {
        var single = NewDir();
        Pretrainer.Run(new PretrainOptions(data.DataDir, single, Presets.Get("tiny"), Fast));
        var runs = new[] { 1, 2, 4 }.ToDictionary(s => s, s => { var d = NewDir(); Train(d, s, micro: 2); return d; });
        var reference = ResumeTests.Losses(runs[1]);
        Assert.Equal(Fast.Steps, reference.Count);
        foreach (var s in new[] { 2, 4 })
        {
            var losses = ResumeTests.Losses(runs[s]);
            for (int i = 0; i < reference.Count; i++) Assert.True(Math.Abs(losses[i] - reference[i]) < 1e-5, $"S={s} step {i + 1}: {losses[i]} vs {reference[i]}");
            var val = Column(runs[s], "val_loss");
            Assert.Equal(Column(runs[1], "val_loss").Count, val.Count);
            for (int i = 0; i < val.Count; i++) Assert.True(Math.Abs(val[i] - Column(runs[1], "val_loss")[i]) < 1e-5);
        }
        // Gradient accumulation over the micro-batches is one batch of 4 in one process.
        var big = ResumeTests.Losses(single);
        for (int i = 0; i < reference.Count; i++) Assert.True(Math.Abs(big[i] - reference[i]) < 1e-4, $"step {i + 1}: {big[i]} vs {reference[i]}");
        // The gathered final model is an ordinary model folder with the one process's weights.
        using var a = ModelFiles.Load(single);
        using var b = ModelFiles.Load(runs[4]);
        var wa = a.state_dict();
        foreach (var (name, t) in b.state_dict()) Assert.True(t.allclose(wa[name], rtol: 1e-3, atol: 1e-5), name);
    }

    [Fact]
    public void GPipeAndOneFOneBGiveTheSameUpdate()
    {
        var f = NewDir();
        var g = NewDir();
        Train(f, 2, micro: 4, "1f1b");
        Train(g, 2, micro: 4, "gpipe");
        Assert.Equal(ResumeTests.Losses(f), ResumeTests.Losses(g));
        // What the stages held: 1F1B at most S - k micro-batches' activations on stage k, GPipe all M.
        Assert.Equal([2.0, 1.0], [Column(f, "stage0_max_live").Max(), Column(f, "stage1_max_live").Max()]);
        Assert.Equal([4.0, 4.0], [Column(g, "stage0_max_live").Max(), Column(g, "stage1_max_live").Max()]);
    }

    [Fact]
    public void ACheckpointOfFourStagesResumesOnTwo()
    {
        var whole = NewDir();
        Train(whole, 2, micro: 2);
        // Four stages, then as a kill right after the step-3 checkpoint leaves the folder; resumed with two.
        var cut = NewDir();
        Train(cut, 4, micro: 2);
        Assert.True(File.Exists(Path.Combine(TrainingCheckpoint.Folder(cut, 3), TrainingCheckpoint.OptimizerFile)));
        Directory.Delete(TrainingCheckpoint.Folder(cut, 6), recursive: true);
        File.Delete(Path.Combine(cut, "ledger.json"));
        Train(cut, 2, micro: 2, resume: true);
        var a = ResumeTests.Losses(whole);
        var b = ResumeTests.Losses(cut);
        Assert.Equal(a.Count, b.Count);
        for (int i = 0; i < a.Count; i++) Assert.True(Math.Abs(a[i] - b[i]) < 1e-5, $"step {i + 1}: {a[i]} vs {b[i]}");
    }

    [Fact]
    public void APortInUseNamesThePipelineDriverNotTheHub()
    {
        var busy = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        busy.Start();
        try
        {
            int port = ((System.Net.IPEndPoint)busy.LocalEndpoint).Port;
            var o = new PretrainOptions(data.DataDir, NewDir(), Presets.Get("tiny"), Fast);
            var e = Assert.Throws<SeekSharpException>(() => PipelineHost.Train(o, new PipelineOptions { Stages = 2, Port = port }, null, _ => { }));
            Assert.Contains($"--port {port}: 127.0.0.1:{port} is already in use (the pipeline driver takes PORT for stages", e.Message);
        }
        finally { busy.Stop(); }
    }
}
