using SeekSharp.Checkpoints;
using SeekSharp.Distributed.Pipeline;
using SeekSharp.Modeling;
using SeekSharp.Tests.Training;
using SeekSharp.Training;

namespace SeekSharp.Tests.Distributed;

/// <summary>Expert parallelism in one process: stages and expert processes on threads over the driver's mailbox, the
/// remote ranges run through the autograd function (RemoteExpertsFunction) and the exchange's wire format. The same tiny
/// fp32 run with E = 1 and E = 2 (and E = 4 with two stages) gives the same losses step for step.</summary>
[Collection("DilocoProcesses")] // their threads would load the two cores under the process tests' leases
public class ExpertParallelTests(TinyDataset data) : TempDirTest, IClassFixture<TinyDataset>
{
    static readonly TrainConfig Fast = TinyDataset.Fast with { Steps = 4, BatchSize = 4, CheckpointEvery = 2 };

    PretrainResult Train(string run, int stages, int experts, bool resume = false) =>
        PipelineTests.TrainInProcess(data.DataDir, run, stages, micro: 2, Fast, resume: resume, experts: experts);

    static List<double> Column(string run, string name) =>
        SeekSharp.Ledger.MetricsLog.Read(Path.Combine(run, SeekSharp.Ledger.MetricsLog.FileName))
            .Where(r => r[name] is not null).Select(r => r[name]!.GetValue<double>()).ToList();

    [Fact]
    public void TwoExpertRangesGiveTheOneProcessLossesStepForStep()
    {
        var one = NewDir();
        var two = NewDir();
        var four = NewDir();
        Train(one, 1, 1);
        Train(two, 1, 2);
        Train(four, 2, 4);
        var reference = ResumeTests.Losses(one);
        Assert.Equal(Fast.Steps, reference.Count);
        foreach (var run in new[] { two, four })
        {
            var losses = ResumeTests.Losses(run);
            Assert.Equal(reference.Count, losses.Count);
            for (int i = 0; i < reference.Count; i++) Assert.True(Math.Abs(losses[i] - reference[i]) < 1e-5, $"step {i + 1}: {losses[i]} vs {reference[i]}");
            var val = Column(run, "val_loss");
            Assert.Equal(Column(one, "val_loss").Count, val.Count);
            for (int i = 0; i < val.Count; i++) Assert.True(Math.Abs(val[i] - Column(one, "val_loss")[i]) < 1e-5, $"val {i}: {val[i]} vs {Column(one, "val_loss")[i]}");
        }
        // The remote ranges were really called: rows went out and came back on every MoE layer (1-3 on tiny), and the
        // load per range sums to 1.
        foreach (int layer in new[] { 1, 2, 3 })
        {
            Assert.All(Column(two, $"ep_layer{layer}_sent"), b => Assert.True(b > 0));
            Assert.All(Column(two, $"ep_layer{layer}_received"), b => Assert.True(b > 0));
            var l0 = Column(two, $"ep_layer{layer}_load0");
            var l1 = Column(two, $"ep_layer{layer}_load1");
            for (int i = 0; i < l0.Count; i++) Assert.Equal(1.0, l0[i] + l1[i], 6);
        }
        Assert.All(Column(two, "experts1_peak_rss"), b => Assert.True(b > 0));
        Assert.Empty(Column(one, "ep_layer1_sent"));
        // The gathered folders are ordinary model folders with the same weights.
        using var a = ModelFiles.Load(one);
        using var b = ModelFiles.Load(four);
        var wa = a.state_dict();
        foreach (var (name, t) in b.state_dict()) Assert.True(t.allclose(wa[name], rtol: 1e-3, atol: 1e-5), name);
    }

    [Fact]
    public void ACheckpointOfTwoExpertRangesResumesOnOne()
    {
        var whole = NewDir();
        Train(whole, 1, 1);
        var cut = NewDir();
        Train(cut, 1, 2);
        Directory.Delete(TrainingCheckpoint.Folder(cut, 4), recursive: true);
        File.Delete(Path.Combine(cut, "ledger.json"));
        Train(cut, 1, 1, resume: true);
        var a = ResumeTests.Losses(whole);
        var b = ResumeTests.Losses(cut);
        Assert.Equal(a.Count, b.Count);
        for (int i = 0; i < a.Count; i++) Assert.True(Math.Abs(a[i] - b[i]) < 1e-5, $"step {i + 1}: {a[i]} vs {b[i]}");
    }

    [Fact]
    public void AnExpertProcessHoldsOnlyItsRangeWithTheWholeModelsWeights()
    {
        var cfg = Presets.Get("tiny");
        using var whole = new Transformer(cfg, 7);
        var span = new StageSpan(1, 1, 0, cfg.NumHiddenLayers) { Experts = new ExpertSlice(1, 2, cfg.NRoutedExperts), ExpertsOnly = true };
        using var part = Transformer.ForStage(cfg, 7, span);
        var w = whole.state_dict();
        int held = 0;
        foreach (var (name, p) in part.named_parameters())
        {
            bool expected = ExpertSlice.ExpertOf(name) is int e && e >= 4;
            Assert.Equal(expected, span.Holds(name, cfg.TieWordEmbeddings));
            if (!expected) { Assert.Equal(0, p.numel()); continue; }
            held++;
            Assert.True(p.equal(w[name]).all().item<bool>(), name);
        }
        Assert.Equal(3 * 4 * 3, held); // 3 MoE layers x 4 experts x (gate, up, down)
        foreach (var e in new[] { 0, 3, 5, 8 })
        {
            var ex = Assert.Throws<SeekSharpException>(() => PipelineEngine.CheckExpertParallel(e == 8 ? 3 : e, e == 5 ? Presets.Get("small-dense") : cfg));
            Assert.StartsWith("--expert-parallel:", ex.Message);
        }
    }
}
