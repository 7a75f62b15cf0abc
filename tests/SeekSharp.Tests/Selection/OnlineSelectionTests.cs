using SeekSharp.Checkpoints;
using SeekSharp.Data;
using SeekSharp.Ledger;
using SeekSharp.Modeling;
using SeekSharp.Selection;
using SeekSharp.Tests.Cli;
using SeekSharp.Tests.Modeling;
using SeekSharp.Tests.Tokenization;
using SeekSharp.Tests.Training;
using SeekSharp.Training;
using static TorchSharp.torch;

namespace SeekSharp.Tests.Selection;

/// <summary>TinyDataset plus a reference model pretrained on it for a few steps.</summary>
public sealed class SelectionFixture : IDisposable
{
    public TinyDataset Data { get; } = new();
    public string ReferenceDir { get; }
    public static readonly ModelConfig Model = TestModels.Mla() with { MaxPositionEmbeddings = 32 };

    public SelectionFixture()
    {
        ReferenceDir = Data.NewRunDir();
        Pretrainer.Run(new PretrainOptions(Data.DataDir, ReferenceDir, Model, TinyDataset.Fast with { Steps = 4, Seed = 9 }));
    }

    public void Dispose() => Data.Dispose();
}

[Collection("Console")] // CliTests.Run redirects Console.Out
public class OnlineSelectionTests(SelectionFixture f) : IClassFixture<SelectionFixture>
{
    sealed class Losses : ITrainingObserver
    {
        public List<double> Values { get; } = [];
        public void OnStep(StepMetrics m) => Values.Add(m.Loss);
    }

    PretrainOptions Options(string run, TrainConfig tc, bool resume = false, string? reference = null) =>
        new(f.Data.DataDir, run, SelectionFixture.Model, tc, resume, ReferenceDir: reference);

    [Theory]
    [InlineData("loss")]
    [InlineData("excess-loss")]
    public void TheBatchIsTheTopQuarterOfTheCandidatesByTheScore(string score)
    {
        using var ds = TokenDataset.Open(f.Data.DataDir);
        var sampler = new TokenBatchSampler(ds.Train);
        using var learner = ModelFiles.Load(Path.Combine(f.ReferenceDir, "checkpoints", "step_000003"));
        var reference = score == "loss" ? null : ModelFiles.Load(f.ReferenceDir);
        using var sel = new OnlineSelection(score, 4, reference, CPU);
        const int B = 3, T = 32;
        var (inp, tgt) = (new long[B * T], new long[B * T]);
        sel.Fill(sampler, 42, B, T, learner, inp, tgt);

        var (cin, ctgt) = (new long[4 * B * T], new long[4 * B * T]);
        sampler.Sample(42, 4 * B, T, cin, ctgt);
        var l = TokenScores.Rows(learner, cin, ctgt, 4 * B, T, CPU, entropy: false);
        using var r2 = score == "loss" ? null : ModelFiles.Load(f.ReferenceDir);
        var r = r2 is null ? null : TokenScores.Rows(r2, cin, ctgt, 4 * B, T, CPU, entropy: false);
        var scores = Enumerable.Range(0, 4 * B).Select(i => (l.Loss[i] - (r?.Loss[i] ?? 0)) / T).ToArray();
        var expected = scores.Select((s, i) => (s, i)).OrderByDescending(p => p.s).Take(B).Select(p => p.i).Order().ToArray();
        Assert.NotEqual([0, 1, 2], expected);   // the test means something only if the top is not the first rows
        for (int b = 0; b < B; b++)
        {
            Assert.Equal(cin.AsSpan(expected[b] * T, T).ToArray(), inp.AsSpan(b * T, T).ToArray());
            Assert.Equal(ctgt.AsSpan(expected[b] * T, T).ToArray(), tgt.AsSpan(b * T, T).ToArray());
        }
        var (flops, m) = sel.TakeStep();
        Assert.Equal(4 * B * T, m["select_scored_tokens"]);
        var oneModel = ModelCost.Of(learner.Config, T).ForwardFlopsPerToken * 4 * B * T;
        Assert.Equal(score == "loss" ? oneModel : 2 * oneModel, flops, 1e-6 * flops);
        Assert.True(m["select_score_selected"] > m["select_score_candidates"]);
        Assert.Equal(0, sel.TakeStep().Metrics["select_scored_tokens"]);   // per step: taken, then reset
    }

    [Fact]
    public void TrainingWithSelectionBillsItsScoringAndResumesExactly()
    {
        var tc = TinyDataset.Fast with { Select = "excess-loss", SelectRatio = 3 };
        var straight = new Losses();
        var r = Pretrainer.Run(Options(f.Data.NewRunDir(), tc, reference: f.ReferenceDir), straight);
        var plain = new Losses();
        var p = Pretrainer.Run(Options(f.Data.NewRunDir(), TinyDataset.Fast), plain);
        Assert.NotEqual(plain.Values, straight.Values);   // the selected batches are other batches

        var sel = r.Selection!;
        long trained = 6L * 4 * 32;
        Assert.Equal(trained, sel.TrainedTokens);
        Assert.Equal(3 * trained, sel.ScoredTokens);
        Assert.Equal(p.Ledger.Tokens, r.Ledger.Tokens);
        Assert.Equal(p.Ledger.ModelFlops + sel.Flops, r.Ledger.ModelFlops, 1e-9 * r.Ledger.ModelFlops);
        Assert.Equal(2 * ModelCost.Of(ModelConfig.Load(Path.Combine(r.RunDir, ModelFiles.ConfigFile)), 32).ForwardFlopsPerToken * 3 * trained,
            sel.Flops, 1e-6 * sel.Flops);
        var records = MetricsLog.Read(Path.Combine(r.RunDir, MetricsLog.FileName));
        Assert.All(records, m => Assert.Equal(3 * 4 * 32, (double)m["select_scored_tokens"]!));
        Assert.Equal(sel.Flops, records.Sum(m => (double)m["select_flops"]!), 1e-6 * sel.Flops);

        // A kill after step 4 and --resume from step 3 gives the uninterrupted run's losses: candidates come from (seed, step, micro).
        var run = f.Data.NewRunDir();
        Assert.Throws<OperationCanceledException>(() => Pretrainer.Run(Options(run, tc, reference: f.ReferenceDir), new Kill(4)));
        var resumed = new Losses();
        Pretrainer.Run(Options(run, tc, resume: true, reference: f.ReferenceDir), resumed);
        Assert.Equal(straight.Values.Skip(3), resumed.Values);
    }

    sealed class Kill(int after) : ITrainingObserver
    {
        public void OnStep(StepMetrics m) { if (m.Step == after) throw new OperationCanceledException("simulated kill"); }
    }

    [Fact]
    public void BadSelectionFlagsAreOneErrorLineNamingTheFlag()
    {
        void Refused(string expected, params string[] extra)
        {
            var run = f.Data.NewRunDir();
            var (code, text) = CliTests.Run(["base", "train", "--data", f.Data.DataDir, "--out", run, "--steps", "2", .. extra]);
            Assert.Equal(1, code);
            Assert.Single(text.Trim().Split('\n'));
            Assert.StartsWith("error: " + expected, text.Trim());
            Assert.False(Directory.Exists(run));
        }
        Refused("--reference: --select excess-loss needs a reference", "--select", "excess-loss");
        Refused("--reference: only --select excess-loss", "--select", "loss", "--reference", f.ReferenceDir);
        Refused("--select-ratio: expected 2 to 64", "--select", "loss", "--select-ratio", "1");
        Refused("--select-ratio: only with --select", "--select-ratio", "8");
        var foreign = f.Data.NewRunDir();
        Directory.CreateDirectory(foreign);
        foreach (var name in new[] { "config.json", "model.safetensors" }) File.Copy(Path.Combine(f.ReferenceDir, name), Path.Combine(foreign, name));
        TokenizerFixture.Tokenizer.Save(foreign);
        Refused($"{Path.Combine(foreign, "tokenizer.json")}: --reference has tokenizer", "--select", "excess-loss", "--reference", foreign);
    }
}
