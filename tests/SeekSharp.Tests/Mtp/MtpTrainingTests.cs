using System.Text;
using System.Text.Json.Nodes;
using SeekSharp.Checkpoints;
using SeekSharp.Export;
using SeekSharp.Ledger;
using SeekSharp.Modeling;
using SeekSharp.Tests.Cli;
using SeekSharp.Tests.Modeling;
using SeekSharp.Tests.Training;
using SeekSharp.Training;
using static TorchSharp.torch;

namespace SeekSharp.Tests.Mtp;

// Multi-token prediction in training and in model folders (decision 0021).
public class MtpTrainingTests(TinyDataset data) : IClassFixture<TinyDataset>
{
    static readonly TrainConfig Fast = TinyDataset.Fast with { MtpWeight = "0.3" };

    static ModelConfig Config(int depth) => TestModels.Mla() with { MaxPositionEmbeddings = 32, NumNextnPredictLayers = depth };

    PretrainOptions Options(string run, int depth, TrainConfig? tc = null, bool resume = false) => new(data.DataDir, run, Config(depth), tc ?? Fast, resume);

    [Fact]
    public void TrainingLogsEachDepthAndSavesTheModulesUnderHuggingFaceNames()
    {
        var run = data.NewRunDir();
        var r = Pretrainer.Run(Options(run, 2, Fast with { Steps = 12 }));
        var records = MetricsLog.Read(Path.Combine(run, "metrics.jsonl"));
        double first = (double)records[0]["mtp_loss_2"]!, last = (double)records[^1]["mtp_loss_2"]!;
        Assert.True(last < first - 0.3, $"mtp_loss_2 {first:F3} -> {last:F3}");
        Assert.True((double)records[^1]["mtp_loss_1"]! > 0);
        Assert.Equal(0.3, (double)records[0]["mtp_weight"]!);
        Assert.Equal(2, r.FinalMtpLosses!.Length);

        var names = Safetensors.ReadHeader(Path.Combine(run, ModelFiles.WeightsFile)).Entries.Select(e => e.Name).ToHashSet();
        foreach (var l in new[] { 2, 3 })
            foreach (var n in new[] { "enorm.weight", "hnorm.weight", "eh_proj.weight", "shared_head.norm.weight", "input_layernorm.weight",
                         "self_attn.kv_a_proj_with_mqa.weight", "mlp.gate.weight", "mlp.experts.3.down_proj.weight" })
                Assert.Contains($"model.layers.{l}.{n}", names);
        Assert.DoesNotContain("model.layers.4.input_layernorm.weight", names);
        Assert.Equal(2, (int)JsonNode.Parse(File.ReadAllText(Path.Combine(run, ModelFiles.ConfigFile)))!["num_nextn_predict_layers"]!);

        using var a = ModelFiles.Load(run);
        using var b = ModelFiles.Load(TrainingCheckpoint.Latest(run)!);
        Assert.Equal(2, a.MtpDepth);
        Assert.Contains(a.Gates, g => g.Layer == 3);                   // the MTP module's router is balanced too
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var ids = tensor(new long[] { 1, 2, 3, 4, 5, 6 }).unsqueeze(0);
        var (_, _, ma) = a.ForwardMtp(ids);
        var (_, _, mb) = b.ForwardMtp(ids);
        Assert.True(ma[1].eq(mb[1]).all().item<bool>());
        Assert.Equal([1L, 4, a.Config.VocabSize], ma[1].shape);
    }

    [Fact]
    public void ResumeReproducesTheLossesOfAnUninterruptedMtpRun()
    {
        var full = Pretrainer.Run(Options(data.NewRunDir(), 1));
        var run = data.NewRunDir();
        Pretrainer.Run(Options(run, 1, Fast with { Steps = 3 }));
        var resumed = Pretrainer.Run(Options(run, 1, resume: true));
        Assert.Equal(full.FinalLoss, resumed.FinalLoss);
        Assert.Equal(full.FinalMtpLosses, resumed.FinalMtpLosses);
    }

    [Fact]
    public void TheMtpLossTrainsTheSharedWeights()
    {
        // λ = 0 leaves the main model's training exactly as without the loss term; λ > 0 changes it from step 2 on.
        var zero = Pretrainer.Run(Options(data.NewRunDir(), 1, Fast with { Steps = 3, MtpWeight = "0" }));
        var plainDir = data.NewRunDir();
        var plain = Pretrainer.Run(Options(plainDir, 0, Fast with { Steps = 3 }));
        var weightedDir = data.NewRunDir();
        var weighted = Pretrainer.Run(Options(weightedDir, 1, Fast with { Steps = 3, MtpWeight = "1" }));
        Assert.NotEqual(plain.FinalLoss, weighted.FinalLoss);
        Assert.Null(plain.FinalMtpLosses);
        Assert.True(Math.Abs(zero.FinalLoss - plain.FinalLoss) < 1e-3, $"{zero.FinalLoss} vs {plain.FinalLoss}");

        // The ledger counts the modules' FLOPs: the MTP run's exceed the plain one's by exactly their share.
        var a = LedgerEntry.Read(Path.Combine(plainDir, "ledger.json"));
        var b = LedgerEntry.Read(Path.Combine(weightedDir, "ledger.json"));
        var cfg = ModelConfig.Load(Path.Combine(weightedDir, ModelFiles.ConfigFile));   // the dataset's vocabulary
        double mtp = ModelCost.Of(cfg, Fast.SeqLen == 0 ? cfg.MaxPositionEmbeddings : Fast.SeqLen).MtpTrainingFlopsPerToken;
        Assert.Equal(a.Tokens, b.Tokens);
        Assert.True(mtp > 0);
        Assert.Equal(mtp * b.Tokens, b.ModelFlops - a.ModelFlops, 1e-6 * b.ModelFlops);
    }

    [Fact]
    public void DepthKAtPositionIReadsTokensUpToIPlusKOnly()
    {
        using var model = new Transformer(Config(2), seed: 5);
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var a = tensor(new long[] { 1, 2, 3, 4, 5, 6, 7, 8 }).unsqueeze(0);
        var b = tensor(new long[] { 1, 2, 3, 4, 9, 6, 7, 8 }).unsqueeze(0);     // token 4 differs
        var (_, _, ma) = model.ForwardMtp(a);
        var (_, _, mb) = model.ForwardMtp(b);
        for (int k = 1; k <= 2; k++)
            for (int i = 0; i < 8 - k; i++)
            {
                bool same = ma[k - 1].select(1, i).eq(mb[k - 1].select(1, i)).all().item<bool>();
                Assert.True(same == (i + k < 4), $"depth {k}, position {i}: {(same ? "unchanged" : "changed")}");
            }
    }

    [Fact]
    public void WeightScheduleSwitchesAtItsFraction()
    {
        var tc = new TrainConfig { Steps = 100, MtpWeight = "0.3@0.7,0.1" };
        Assert.Equal(0.3, tc.MtpWeightAt(69));
        Assert.Equal(0.1, tc.MtpWeightAt(70));
        Assert.Equal(0.2, (tc with { MtpWeight = "0.2" }).MtpWeightAt(99));
        Assert.Equal(0.5, (tc with { MtpWeight = "1@0.25,0.5@0.5,0" }).MtpWeightAt(30));
        foreach (var bad in new[] { "", "-1", "0.3@0.7", "0.3@0.7,0.1@0.5,0", "0.3@1,0.1", "x", "NaN" })
            Assert.Null(TrainConfig.ParseMtpWeight(bad));
        Assert.Throws<SeekSharpException>(() => (tc with { MtpWeight = "0.3@" }).Validate());
    }

    [Fact]
    public void AFolderWithoutMtpIsUnchangedAndAConfigWithoutItsWeightsLoadsTheMainModel()
    {
        var dir = data.NewRunDir();
        using (var plain = new Transformer(Config(0))) ModelFiles.Save(dir, plain);
        Assert.DoesNotContain("num_nextn_predict_layers", File.ReadAllText(Path.Combine(dir, ModelFiles.ConfigFile)));
        var cfg = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, ModelFiles.ConfigFile)))!.AsObject();
        cfg["num_nextn_predict_layers"] = 1;                               // as DeepSeek-V3's config.json, weights without layer 61
        File.WriteAllText(Path.Combine(dir, ModelFiles.ConfigFile), cfg.ToJsonString());
        using var loaded = ModelFiles.Load(dir);
        Assert.Equal(0, loaded.MtpDepth);
    }

    [Fact]
    public void DeepSeekV3sCopiesOfTheSharedEmbeddingAndHeadInTheMtpLayerAreAcceptedAndAWrongShapeIsNamed()
    {
        var dir = data.NewRunDir();
        var cfg = Config(1);
        using (var m = new Transformer(cfg)) ModelFiles.Save(dir, m);
        var path = Path.Combine(dir, ModelFiles.WeightsFile);
        var tensors = Safetensors.Load(path);
        var l = cfg.NumHiddenLayers;
        var head = tensors.ContainsKey("lm_head.weight") ? "lm_head.weight" : "model.embed_tokens.weight";
        tensors[$"model.layers.{l}.embed_tokens.weight"] = tensors["model.embed_tokens.weight"].clone();
        tensors[$"model.layers.{l}.shared_head.head.weight"] = tensors[head].clone();   // as the released files hold them
        Safetensors.Save(path, tensors);
        using (var loaded = ModelFiles.Load(dir))
        {
            Assert.Equal(1, loaded.MtpDepth);
            Assert.True(loaded.state_dict()["model.embed_tokens.weight"].eq(tensors["model.embed_tokens.weight"]).all().item<bool>());
        }
        tensors[$"model.layers.{l}.embed_tokens.weight"] = zeros(3, 4);
        Safetensors.Save(path, tensors);
        var e = Assert.Throws<SeekSharpException>(() => ModelFiles.Load(dir));
        Assert.Contains($"'model.layers.{l}.embed_tokens.weight' has shape [3,4]", e.Message);
        foreach (var t in tensors.Values) t.Dispose();
    }

    [Fact]
    public void GgufExportDropsTheModulesAndSaysSo()
    {
        var dir = data.NewRunDir();
        using (var m = new Transformer(Config(1) with { VocabSize = 300 })) ModelFiles.Save(dir, m, tokenizerFrom: data.TokenizerDir);
        var gguf = Path.Combine(dir, "m.gguf");
        var r = GgufExport.Run(dir, gguf, "f32");
        Assert.Equal(1, r.DroppedMtpLayers);
        var text = Encoding.Latin1.GetString(File.ReadAllBytes(gguf));
        Assert.Contains("blk.1.attn_norm", text);
        Assert.DoesNotContain("blk.2.", text);
    }

    [Fact]
    public void ANegativeDepthIsOneErrorLineNamingTheFlag()
    {
        var (code, text) = CliTests.Run("base", "train", "--data", data.DataDir, "--out", data.NewRunDir(), "--mtp-depth", "-1");
        Assert.Equal(1, code);
        Assert.StartsWith("error: --mtp-depth: expected an integer from 0 to 8", text.Trim());
        (code, text) = CliTests.Run("base", "train", "--data", data.DataDir, "--out", data.NewRunDir(), "--mtp-depth", "1", "--mtp-weight", "0.3@2,0.1");
        Assert.Equal(1, code);
        Assert.StartsWith("error: --mtp-weight:", text.Trim());
    }
}
