using SeekSharp.Checkpoints;
using SeekSharp.Data;
using SeekSharp.Selection;
using SeekSharp.Tests.Cli;
using SeekSharp.Tests.Tokenization;
using SeekSharp.Tests.Training;
using static TorchSharp.torch;

namespace SeekSharp.Tests.Selection;

[Collection("Console")] // CliTests.Run redirects Console.Out
public class DataSelectTests(TinyTrainedModel t) : IClassFixture<TinyTrainedModel>
{
    SelectOptions Options(string score, double keep = 0.25, string? reference = null) => new()
    {
        ModelDir = t.RunDir, DataDir = t.DataDir, OutDir = t.NewDir(), KeepFraction = keep, Score = score, ReferenceDir = reference, Precision = "fp32",
        BatchSize = 5,
    };

    string EarlyCheckpoint => Directory.GetDirectories(Path.Combine(t.RunDir, "checkpoints")).Order().First();

    [Fact]
    public void EachDocumentsLossAndEntropyAreItsTokensMeanComputedWindowByWindow()
    {
        var r = DataSelection.Run(Options("entropy"));
        using var ds = TokenDataset.Open(t.DataDir);
        var docs = DocumentScorer.Documents(ds.Train, ds.BosId, "test");
        Assert.Equal(ds.TrainDocuments, docs.Count);
        Assert.Equal(ds.TrainTokens, docs.Sum(d => (long)d.Length));
        Assert.Equal(ds.TrainTokens - docs.Count, r.Manifest.ScoredTokens);   // every target once: L − 1 per document
        using var model = ModelFiles.Load(t.RunDir);
        model.eval();
        using var _ = no_grad();
        // Documents longer than the 32-token context are scored in consecutive windows; check some of each kind.
        var picks = Enumerable.Range(0, docs.Count).Where(i => docs[i].Length > 33).Take(3).Concat(Enumerable.Range(0, docs.Count).Where(i => docs[i].Length <= 33).Take(2));
        foreach (var i in picks)
        {
            var tokens = new int[docs[i].Length];
            ds.Train.Read(docs[i].Start, tokens);
            double loss = 0, entropy = 0;
            for (int off = 0; off < tokens.Length - 1; off += 32)
            {
                using var scope = NewDisposeScope();
                int len = Math.Min(32, tokens.Length - 1 - off);
                var x = tensor(tokens.Skip(off).Take(len).Select(v => (long)v).ToArray(), [1, len]);
                var y = tensor(tokens.Skip(off + 1).Take(len).Select(v => (long)v).ToArray());
                var (logits, _) = model.Forward(x);
                var logp = nn.functional.log_softmax(logits.view(len, -1), 1);
                loss += -logp.gather(1, y.view(len, 1)).sum().item<float>();
                entropy += -(logp.exp() * logp).sum().item<float>();
            }
            var doc = r.Manifest.PerDocument[i];
            Assert.Equal(loss / (tokens.Length - 1), doc.Loss, 1e-4);
            Assert.Equal(entropy / (tokens.Length - 1), doc.Entropy!.Value, 1e-4);
            Assert.Equal(doc.Entropy!.Value, doc.Score);
        }
    }

    [Fact]
    public void TheTopFractionIsWrittenAsADatasetOfTheKeptDocumentsInOrderWithTheValidationSplitUnchanged()
    {
        var o = Options("loss", keep: 0.3);
        var r = DataSelection.Run(o);
        var m = r.Manifest;
        Assert.Equal((int)Math.Ceiling(0.3 * m.Documents), m.KeptDocuments);
        var kept = m.PerDocument.Where(d => d.Kept).ToList();
        var dropped = m.PerDocument.Where(d => !d.Kept).ToList();
        Assert.Equal(m.KeptDocuments, kept.Count);
        Assert.True(kept.Min(d => d.Score) >= dropped.Max(d => d.Score));
        Assert.All(m.PerDocument, d => Assert.Equal(d.Loss, d.Score));

        using var src = TokenDataset.Open(t.DataDir);
        using var sel = TokenDataset.Open(o.OutDir);   // a dataset every command opens
        Assert.Equal(src.TokenizerHash, sel.TokenizerHash);
        Assert.Equal(kept.Count, sel.TrainDocuments);
        Assert.Equal(kept.Sum(d => (long)d.Tokens), sel.TrainTokens);
        Assert.Equal(m.KeptTokens, sel.TrainTokens);
        var srcDocs = DocumentScorer.Documents(src.Train, src.BosId, "src");
        var selDocs = DocumentScorer.Documents(sel.Train, sel.BosId, "sel");
        for (int k = 0; k < kept.Count; k++)
        {
            var a = new int[srcDocs[kept[k].Index].Length];
            var b = new int[selDocs[k].Length];
            src.Train.Read(srcDocs[kept[k].Index].Start, a);
            sel.Train.Read(selDocs[k].Start, b);
            Assert.Equal(a, b);
        }
        var va = new int[src.ValTokens];
        var vb = new int[sel.ValTokens];
        src.Val.Read(0, va);
        sel.Val.Read(0, vb);
        Assert.Equal(va, vb);
        Assert.Equal(src.ValDocuments, sel.ValDocuments);
        Assert.True(File.Exists(Path.Combine(o.OutDir, "tokenizer.json")));
        var ledger = SeekSharp.Ledger.LedgerEntry.Read(Path.Combine(o.OutDir, "ledger.json"));
        Assert.Equal("data-select", ledger.Kind);
        Assert.Equal(m.ScoredTokens, ledger.Tokens);
        Assert.True(ledger.ModelFlops > 0);
        Assert.Equal(m.ScoringFlops, ledger.ModelFlops, 1e-6 * ledger.ModelFlops);
        Assert.Empty(Directory.GetDirectories(Path.GetDirectoryName(o.OutDir)!, $".{Path.GetFileName(o.OutDir)}.tmp-*"));
    }

    [Fact]
    public void ExcessLossIsTheLearnersLossMinusTheReferencesAndTheReferenceIsBilled()
    {
        var plain = DataSelection.Run(Options("loss", keep: 1));
        var r = DataSelection.Run(Options("excess-loss", keep: 0.5, reference: EarlyCheckpoint));
        Assert.All(r.Manifest.PerDocument, d => Assert.Equal(d.Loss - d.ReferenceLoss!.Value, d.Score, 1e-9));
        Assert.Contains(r.Manifest.PerDocument, d => Math.Abs(d.Score) > 1e-3);   // the early checkpoint is another model
        Assert.Equal(2 * r.Manifest.ScoredTokens, r.Ledger.Tokens);
        Assert.Equal(2 * plain.Manifest.ScoringFlops, r.Manifest.ScoringFlops, 1e-6 * r.Manifest.ScoringFlops);
        // The excess-loss ranking is not the loss ranking: the choice follows the score asked for.
        Assert.NotEqual(SelectionChoice.Top([.. plain.Manifest.PerDocument.Select(d => d.Score)], r.Manifest.KeptDocuments),
            r.Manifest.PerDocument.Where(d => d.Kept).Select(d => d.Index).ToArray());
    }

    [Fact]
    public void SamplingKeepsTheAskedCountReproduciblyAndNotJustTheTop()
    {
        var a = DataSelection.Run(Options("loss", keep: 0.3) with { Sample = true, Seed = 7 });
        var b = DataSelection.Run(Options("loss", keep: 0.3) with { Sample = true, Seed = 7 });
        var keptA = a.Manifest.PerDocument.Where(d => d.Kept).Select(d => d.Index).ToArray();
        Assert.Equal(keptA, b.Manifest.PerDocument.Where(d => d.Kept).Select(d => d.Index).ToArray());
        Assert.Equal(a.Manifest.KeptDocuments, keptA.Length);
        Assert.NotEqual(SelectionChoice.Top([.. a.Manifest.PerDocument.Select(d => d.Score)], keptA.Length), keptA);
    }

    [Fact]
    public void BadInputIsOneErrorLineNamingTheFlagAndNothingIsWritten()
    {
        void Refused(string expected, params string[] extra)
        {
            var outDir = t.NewDir();
            var (code, text) = CliTests.Run(["data", "select", "--model", t.RunDir, "--data", t.DataDir, "--out", outDir, .. extra]);
            Assert.Equal(1, code);
            Assert.Single(text.Trim().Split('\n'));
            Assert.StartsWith("error: " + expected, text.Trim());
            Assert.False(Directory.Exists(outDir));
            Assert.Empty(Directory.GetDirectories(Path.GetDirectoryName(outDir)!, $".{Path.GetFileName(outDir)}.tmp-*"));
        }
        Refused("--keep-fraction: expected a number in (0, 1], got 0", "--keep-fraction", "0", "--score", "loss");
        Refused("--keep-fraction: expected a number in (0, 1], got 1.5", "--keep-fraction", "1.5", "--score", "loss");
        Refused("--keep-fraction: expected a number in (0, 1], got -0.2", "--keep-fraction", "-0.2", "--score", "loss");
        Refused("--reference: --score excess-loss needs a reference", "--keep-fraction", "0.5", "--score", "excess-loss");
        Refused("--score: expected one of loss, excess-loss, entropy, got 'perplexity'", "--keep-fraction", "0.5", "--score", "perplexity");
        Refused("--reference: only --score excess-loss", "--keep-fraction", "0.5", "--score", "loss", "--reference", t.RunDir);

        // A reference made with another tokenizer: the run's weights with another tokenizer.json.
        var foreign = t.NewDir();
        Directory.CreateDirectory(foreign);
        foreach (var f in new[] { "config.json", "model.safetensors" }) File.Copy(Path.Combine(t.RunDir, f), Path.Combine(foreign, f));
        TokenizerFixture.Tokenizer.Save(foreign);
        Refused($"{Path.Combine(foreign, "tokenizer.json")}: --reference has tokenizer", "--keep-fraction", "0.5", "--score", "excess-loss", "--reference", foreign);

        // An --out that holds something is never replaced.
        var full = t.NewDir();
        Directory.CreateDirectory(full);
        File.WriteAllText(Path.Combine(full, "keep.txt"), "mine");
        var (c, output) = CliTests.Run("data", "select", "--model", t.RunDir, "--data", t.DataDir, "--out", full, "--keep-fraction", "0.5", "--score", "loss");
        Assert.Equal(1, c);
        Assert.StartsWith($"error: --out {full}: must be a new or empty folder", output.Trim());
        Assert.Equal(["keep.txt"], Directory.GetFileSystemEntries(full).Select(Path.GetFileName));
    }

    [Fact]
    public void TheCommandPrintsTheTableAndWritesTheFolder()
    {
        var outDir = t.NewDir();
        var (code, text) = CliTests.Run("data", "select", "--model", t.RunDir, "--data", t.DataDir, "--out", outDir, "--keep-fraction", "0.5",
            "--score", "excess-loss", "--reference", EarlyCheckpoint, "--precision", "fp32");
        Assert.True(code == 0, text);
        Assert.Contains("kept the top 180 of 360 documents", text);
        Assert.Contains("by excess-loss", text);
        Assert.Contains("selected dataset written to", text);
        foreach (var f in new[] { "dataset.json", "selection.json", "ledger.json", "tokenizer.json", "train_000.bin", "val_000.bin" })
            Assert.True(File.Exists(Path.Combine(outDir, f)), f);
    }
}

public class SelectionChoiceTests
{
    [Fact]
    public void KeepCountIsTheCeilingAndAtLeastOne()
    {
        Assert.Equal(3, SelectionChoice.KeepCount(10, 0.25));
        Assert.Equal(1, SelectionChoice.KeepCount(10, 0.01));
        Assert.Equal(10, SelectionChoice.KeepCount(10, 1));
        Assert.Equal(5, SelectionChoice.KeepCount(10, 0.5));
        Assert.Equal(0, SelectionChoice.KeepCount(0, 0.5));
    }

    [Fact]
    public void TopKeepsTheHighestScoresTiesByIndexReturnedInOrder()
    {
        Assert.Equal([1, 3], SelectionChoice.Top([0.1, 0.9, 0.2, 0.8], 2));
        Assert.Equal([0, 2], SelectionChoice.Top([0.5, 0.1, 0.5, 0.5], 2));
        Assert.Equal([0, 1, 2], SelectionChoice.Top([-3, -1, -2], 3));
    }

    [Fact]
    public void SamplingFollowsTheScoreWithoutReplacement()
    {
        // Scores 0..9 (shifted weights w = i + floor): over many seeds a document is drawn about in proportion to its weight.
        var scores = Enumerable.Range(0, 10).Select(i => (double)i).ToArray();
        var counts = new int[10];
        for (int seed = 0; seed < 2000; seed++)
        {
            var pick = SelectionChoice.Sample(scores, 1, seed);
            Assert.Single(pick);
            counts[pick[0]]++;
        }
        Assert.True(counts[9] > 5 * Math.Max(1, counts[1]), string.Join(",", counts));
        Assert.True(counts[0] < 20, string.Join(",", counts));   // weight 0.009 of 45.01
        Assert.InRange(counts[9] / 2000.0, 9 / 45.0 - 0.04, 9 / 45.0 + 0.04);
        var all = SelectionChoice.Sample(scores, 10, 3);
        Assert.Equal(Enumerable.Range(0, 10), all);
        Assert.Equal(SelectionChoice.Sample(scores, 4, 5), SelectionChoice.Sample(scores, 4, 5));
        Assert.Equal(4, SelectionChoice.Sample(scores, 4, 5).Distinct().Count());
    }
}
