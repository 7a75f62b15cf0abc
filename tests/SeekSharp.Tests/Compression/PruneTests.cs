using System.Text.Json;
using SeekSharp.Checkpoints;
using SeekSharp.Compression;
using SeekSharp.Ledger;
using SeekSharp.Data;
using SeekSharp.Modeling;
using SeekSharp.Tests.Cli;
using SeekSharp.Tests.Training;
using static TorchSharp.torch;

namespace SeekSharp.Tests.Compression;

[Collection("Console")] // CliTests.Run redirects Console.Out
public class PruneTests(TinyTrainedModel t) : IClassFixture<TinyTrainedModel>
{
    const long Tokens = 1024;

    string Save(Transformer m)
    {
        var dir = t.NewDir();
        ModelFiles.Save(dir, m, tokenizerFrom: t.RunDir);
        return dir;
    }

    static void Edit(Transformer m, string name, Action<Tensor> edit)
    {
        using var _ = no_grad();
        edit(m.state_dict()[name]);
    }

    /// <summary>Logits of the first val windows (2 x the model's context).</summary>
    Tensor Logits(Transformer m)
    {
        using var ds = TokenDataset.Open(t.DataDir);
        int len = m.Config.MaxPositionEmbeddings;
        var ids = new int[2 * len];
        ds.Val.Read(0, ids);
        using var _ = no_grad();
        return m.Forward(tensor(ids.Select(x => (long)x).ToArray(), [2, len])).Logits;
    }

    [Fact]
    public void SaliencyIsTheMeanRouterWeightTimesOutputNormOverRoutedTokens()
    {
        var s = new ExpertStatistics(4);
        // Token 0 -> experts 0 (w .5, output norm 5) and 1 (w .5, norm 2); token 1 -> 1 (w .25, norm 1) and 2 (w .75, norm 10).
        using var indices = tensor(new long[] { 0, 1, 1, 2 }, [2, 2]);
        using var weights = tensor(new float[] { 0.5f, 0.5f, 0.25f, 0.75f }, [2, 2]);
        using var outputs = tensor(new float[] { 3, 4, 0, 0, 0, 2, 1, 0, 0, 0, 6, 8 }, [2, 2, 3]);
        s.Add(indices, weights, outputs);
        s.Add(indices, weights, outputs);   // the same batch twice: means unchanged, counts doubled
        Assert.Equal([2.5, (0.5 * 2 + 0.25 * 1) / 2, 7.5, 0], s.Saliency);
        Assert.Equal([2L, 4, 2, 0], s.Routed);
        Assert.Equal([0.5, 1, 0.5, 0], s.Frequency);
        Assert.Equal(4, s.Tokens);
        var l = ExpertPruning.Choose(3, s, 2);
        Assert.Equal([0, 2], l.Kept.Select(x => x.Expert));
        Assert.Equal([1, 3], l.Removed.Select(x => x.Expert));
        Assert.Equal([1, 2, 3, 4, 5, 6, 7, 8, 8, 10], new[] { 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 1.0 }.Select(f => ExpertPruning.KeptCount(10, f)));
    }

    [Fact]
    public void AZeroExpertIsRemovedAndAHugeOneKept()
    {
        using var m = ModelFiles.Load(t.RunDir);
        const int layer = 1;
        Assert.Equal(4, m.Config.NRoutedExperts);
        Edit(m, $"model.layers.{layer}.mlp.experts.1.down_proj.weight", w => w.zero_());
        Edit(m, $"model.layers.{layer}.mlp.experts.2.down_proj.weight", w => w.mul_(20));
        var outDir = t.NewDir();
        var r = ExpertPruning.Run(Save(m), t.DataDir, outDir, new ExpertPruningOptions(0.5, Tokens: Tokens));
        var l = Assert.Single(r.Layers);
        Assert.Equal(layer, l.Layer);
        Assert.Equal(2, l.Kept.Count);
        Assert.Contains(2, l.Kept.Select(x => x.Expert));
        Assert.Contains(1, l.Removed.Select(x => x.Expert));
        var zero = l.Removed.Single(x => x.Expert == 1);
        Assert.True(zero.Routed > 0, "the zeroed expert was chosen, and still scores nothing");
        Assert.Equal(0, zero.Saliency);
        Assert.Equal(l.Kept.Concat(l.Removed).Max(x => x.Saliency), l.Kept.Single(x => x.Expert == 2).Saliency);
        Assert.Equal(2 * Tokens, l.Kept.Concat(l.Removed).Sum(x => x.Routed));   // k = 2 choices per token

        // pruning.json records the same, and the calibration it came from.
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, ExpertPruning.ReportFile)));
        var root = json.RootElement;
        Assert.Equal(Tokens, root.GetProperty("calibration").GetProperty("tokens").GetInt64());
        Assert.Equal(BpeTokenizerHash(), root.GetProperty("calibration").GetProperty("tokenizer_hash").GetString());
        Assert.Equal("train", root.GetProperty("calibration").GetProperty("split").GetString());
        Assert.Equal(l.Kept.Select(x => x.Expert), ExpertPruning.KeptExperts(outDir)[layer]);
        var removed = root.GetProperty("layers")[0].GetProperty("removed").EnumerateArray().ToList();
        Assert.Contains(removed, e => e.GetProperty("expert").GetInt32() == 1 && e.GetProperty("saliency").GetDouble() == 0);
        Assert.Equal(2, ModelConfig.Load(Path.Combine(outDir, ModelFiles.ConfigFile)).NRoutedExperts);
    }

    ModelConfig RunConfig => ModelConfig.Load(Path.Combine(t.RunDir, ModelFiles.ConfigFile));

    string BpeTokenizerHash() => SeekSharp.Tokenization.BpeTokenizer.Load(t.RunDir).Hash;

    [Fact]
    public void ExpertsNoTokenChoseAreRemovedAndTheLogitsStay()
    {
        // 8 experts in two MoE layers; experts 1, 4, 6, 7 are never selected (correction bias -1000), which leaves
        // the gate weights of the others unchanged: pruning them must leave every logit as it was.
        var cfg = RunConfig with { NRoutedExperts = 8, NumHiddenLayers = 3 };
        using var m = new Transformer(cfg, seed: 7);
        int[] never = [1, 4, 6, 7], kept = [0, 2, 3, 5];
        foreach (var layer in new[] { 1, 2 })
            Edit(m, $"model.layers.{layer}.mlp.gate.e_score_correction_bias", b => { foreach (var e in never) b[e] = tensor(-1000f); });
        var outDir = t.NewDir();
        var r = ExpertPruning.Run(Save(m), t.DataDir, outDir, new ExpertPruningOptions(0.5, Tokens: Tokens));
        Assert.Equal([1, 2], r.Layers.Select(l => l.Layer));
        foreach (var l in r.Layers)
        {
            Assert.Equal(kept, l.Kept.Select(x => x.Expert));
            Assert.All(l.Kept, x => Assert.True(x.Routed > 0));
            Assert.All(l.Removed, x => Assert.Equal(0, x.Routed));
        }

        using var p = ModelFiles.Load(outDir);
        Assert.Equal(4, p.Config.NRoutedExperts);
        var (a, b) = (m.state_dict(), p.state_dict());
        using var rows = tensor(kept.Select(x => (long)x).ToArray());
        foreach (var layer in new[] { 1, 2 })
        {
            var g = $"model.layers.{layer}.mlp.gate.";
            Assert.True(a[g + "weight"].index_select(0, rows).equal(b[g + "weight"]).all().item<bool>());
            Assert.True(a[g + "e_score_correction_bias"].index_select(0, rows).equal(b[g + "e_score_correction_bias"]).all().item<bool>());
            for (int j = 0; j < kept.Length; j++)
                foreach (var proj in new[] { "gate_proj", "up_proj", "down_proj" })
                    Assert.True(a[$"model.layers.{layer}.mlp.experts.{kept[j]}.{proj}.weight"].equal(b[$"model.layers.{layer}.mlp.experts.{j}.{proj}.weight"]).all().item<bool>());
        }
        using var before = Logits(m);
        using var after = Logits(p);
        Assert.True(before.allclose(after, rtol: 0, atol: 1e-5), $"max difference {(before - after).abs().max().item<float>()}");
    }

    [Fact]
    public void KeepFractionOneReproducesTheModelExactly()
    {
        var outDir = t.NewDir();
        var r = ExpertPruning.Run(t.RunDir, t.DataDir, outDir, new ExpertPruningOptions(1.0, Split: "val", Tokens: 100));
        Assert.All(r.Layers, l => Assert.Empty(l.Removed));
        // 100 tokens: three windows of the context (32) and one of the last 4, each token routed to k = 2 experts.
        Assert.All(r.Layers, l => Assert.Equal(2 * 100, l.Kept.Sum(x => x.Routed)));
        using var m = ModelFiles.Load(t.RunDir);
        using var p = ModelFiles.Load(outDir);
        Assert.Equal((m.Config with { Preset = null }).ToJson(), (p.Config with { Preset = null }).ToJson());
        foreach (var (name, w) in m.state_dict()) Assert.True(w.equal(p.state_dict()[name]).all().item<bool>(), name);
        using var a = Logits(m);
        using var b = Logits(p);
        Assert.True(a.equal(b).all().item<bool>());
    }

    [Fact]
    public void ThePrunedFolderServesGenerateAndEvalPpl()
    {
        var outDir = t.NewDir();
        var (code, output) = CliTests.Run("prune", "experts", "--model", t.RunDir, "--keep-fraction", "0.5", "--calibration", t.DataDir,
            "--out", outDir, "--tokens", Tokens.ToString());
        Assert.True(code == 0, output);
        foreach (var s in new[] { "kept 2 of 4 routed experts in each of 1 MoE layers", "kept saliency", "removed saliency", "bytes", "pruning.json" })
            Assert.Contains(s, output);
        foreach (var f in new[] { ModelFiles.ConfigFile, ModelFiles.WeightsFile, ModelFiles.GenerationConfigFile, "tokenizer.json", ExpertPruning.ReportFile })
            Assert.True(File.Exists(Path.Combine(outDir, f)), f);
        Assert.True(new FileInfo(Path.Combine(outDir, ModelFiles.WeightsFile)).Length < new FileInfo(Path.Combine(t.RunDir, ModelFiles.WeightsFile)).Length);
        Assert.Empty(Directory.GetDirectories(Path.GetDirectoryName(outDir)!, "*.tmp-*"));
        // The ledger shows the saving: the pruned weights as written, the source's as read.
        var storage = LedgerEntry.Read(Path.Combine(outDir, "ledger.json")).Storage!;
        Assert.Equal(new FileInfo(Path.Combine(outDir, ModelFiles.WeightsFile)).Length, storage.ByKind[StorageKind.Weights].WrittenBytes);
        Assert.Equal(new FileInfo(Path.Combine(t.RunDir, ModelFiles.WeightsFile)).Length, storage.Sources!.Sum(a => a.Bytes));
        Assert.True(storage.SavingRatio() < 1);
        Assert.Contains("storage:", output);

        (code, output) = CliTests.Run("generate", "--model", outDir, "--prompt", "the", "--max-tokens", "4", "--temperature", "0");
        Assert.True(code == 0, output);
        (code, output) = CliTests.Run("eval", "ppl", "--model", outDir, "--data", t.DataDir, "--json", "--precision", "fp32");
        Assert.True(code == 0, output);
        using var json = JsonDocument.Parse(output);
        Assert.True(double.IsFinite(json.RootElement.GetProperty("loss").GetDouble()));
    }

    static string OneErrorLine(int code, string output)
    {
        Assert.Equal(1, code);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return Assert.Single(lines);
    }

    [Fact]
    public void BadInputIsOneErrorLineAndWritesNothing()
    {
        string dense;
        using (var d = new Transformer(RunConfig with { NRoutedExperts = 0, NSharedExperts = 0, NumExpertsPerTok = 0, AuxLossAlpha = 0 })) dense = Save(d);
        var cases = new (string[] Args, string[] Expect)[]
        {
            (["--keep-fraction", "0"], ["--keep-fraction", "above 0 and at most 1, got 0"]),
            (["--keep-fraction", "1.5"], ["--keep-fraction", "got 1.5"]),
            (["--keep-fraction", "-0.5"], ["--keep-fraction"]),
            (["--keep-fraction", "0.25"], ["--keep-fraction", "keeps 1 of 4", "num_experts_per_tok"]),
            (["--model", dense], ["n_routed_experts 0", Path.Combine(dense, "config.json")]),
            (["--calibration", t.OtherTokenizerData], [Path.Combine(t.OtherTokenizerData, "dataset.json"), "tokenizer", "calibrate on"]),
            (["--tokens", "100000000"], ["--tokens", "holds only"]),
            (["--tokens", "0"], ["--tokens", "1 or more"]),
            (["--split", "test"], ["'test'"]),
        };
        foreach (var (args, expect) in cases)
        {
            var outDir = t.NewDir();
            var all = new List<string> { "prune", "experts", "--model", t.RunDir, "--keep-fraction", "0.5", "--calibration", t.DataDir, "--out", outDir };
            for (int i = 0; i < args.Length; i += 2)
            {
                var at = all.IndexOf(args[i]);
                if (at >= 0) all[at + 1] = args[i + 1]; else all.AddRange([args[i], args[i + 1]]);
            }
            var (code, output) = CliTests.Run(all.ToArray());
            var line = OneErrorLine(code, output);
            Assert.StartsWith("error:", line);
            foreach (var e in expect) Assert.Contains(e, line);
            Assert.False(Directory.Exists(outDir) || File.Exists(outDir), string.Join(' ', args));
            Assert.Empty(Directory.GetDirectories(Path.GetDirectoryName(outDir)!, "*.tmp-*"));
        }

        // An --out that holds anything is left as it was.
        var full = t.NewDir();
        Directory.CreateDirectory(full);
        File.WriteAllText(Path.Combine(full, "notes.txt"), "mine");
        var (c, o) = CliTests.Run("prune", "experts", "--model", t.RunDir, "--keep-fraction", "0.5", "--calibration", t.DataDir, "--out", full, "--tokens", "64");
        var err = OneErrorLine(c, o);
        Assert.Contains(full, err);
        Assert.Contains("not empty", err);
        Assert.Equal(["notes.txt"], Directory.GetFileSystemEntries(full).Select(Path.GetFileName));
        Assert.Equal("mine", File.ReadAllText(Path.Combine(full, "notes.txt")));
        // An empty one is used.
        var empty = t.NewDir();
        Directory.CreateDirectory(empty);
        (c, o) = CliTests.Run("prune", "experts", "--model", t.RunDir, "--keep-fraction", "0.5", "--calibration", t.DataDir, "--out", empty, "--tokens", "64");
        Assert.True(c == 0, o);
        Assert.True(File.Exists(Path.Combine(empty, ExpertPruning.ReportFile)));
    }
}
