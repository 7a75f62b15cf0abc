using SeekSharp.Alignment;
using SeekSharp.Checkpoints;
using SeekSharp.Modeling;
using SeekSharp.Training;
using static TorchSharp.torch;

namespace SeekSharp.Tests.Alignment;

public class LoraTests(ChatModelFolder folder) : IClassFixture<ChatModelFolder>
{
    static Tensor Ids(int vocab) => tensor(Enumerable.Range(0, 24).Select(i => (long)(i * 37 % vocab)).ToArray()).view(2, 12);

    static void RandomizeB(Transformer model, int seed)
    {
        using var g = new Generator((ulong)seed);
        using var _ = no_grad();
        foreach (var (_, p) in Lora.Parameters(model).Where(p => p.Name.EndsWith("lora_B.weight")))
            p.copy_(normal(0, 0.05, p.shape, generator: g));
    }

    [Fact]
    public void AdaptersGoOnAttentionAndDenseMlpsNotRoutedExperts()
    {
        using var model = ModelFiles.Load(folder.ModelDir);
        var names = Lora.Targets(model).Select(t => t.Name).ToList();
        Assert.Contains("model.layers.0.self_attn.q_a_proj", names);
        Assert.Contains("model.layers.0.self_attn.kv_b_proj", names);
        Assert.Contains("model.layers.0.mlp.gate_proj", names);
        Assert.Contains("model.layers.1.mlp.shared_experts.down_proj", names);
        Assert.DoesNotContain(names, n => n.Contains(".experts."));
    }

    [Fact]
    public void MergedModelGivesTheAdapterLogits()
    {
        using var model = ModelFiles.Load(folder.ModelDir);
        var ids = Ids(folder.Config.VocabSize);
        using var _ = no_grad();
        var baseLogits = model.Forward(ids).Logits;
        Lora.Attach(model, new LoraConfig { Rank = 4, Alpha = 8 }, seed: 1);
        Assert.True(model.Forward(ids).Logits.eq(baseLogits).all().item<bool>(), "fresh adapters (B = 0) change nothing");
        RandomizeB(model, 2);
        var adapted = model.Forward(ids).Logits;
        Assert.True((adapted - baseLogits).abs().max().item<float>() > 1e-3, "the adapters must matter for this test to mean anything");

        Assert.Equal(Lora.Targets(model).Count, Lora.Merge(model));
        Assert.Empty(Lora.Parameters(model));
        var merged = model.Forward(ids).Logits;
        Assert.True(merged.allclose(adapted, rtol: 1e-5, atol: 1e-5), $"max diff {(merged - adapted).abs().max().item<float>()}");
    }

    [Fact]
    public void AdapterFolderRoundTripsAndMergesIntoAPlainCheckpoint()
    {
        var ids = Ids(folder.Config.VocabSize);
        var adapterDir = folder.NewDir();
        Tensor adapted;
        using (var model = ModelFiles.Load(folder.ModelDir))
        {
            Lora.Attach(model, new LoraConfig { Rank = 2, Alpha = 3 }, seed: 5);
            RandomizeB(model, 6);
            Lora.Save(adapterDir, model, new LoraConfig { Rank = 2, Alpha = 3 }, folder.ModelDir);
            using (no_grad()) adapted = model.Forward(ids).Logits.detach();
        }
        Assert.Contains("\"peft_type\": \"LORA\"", File.ReadAllText(Path.Combine(adapterDir, Lora.ConfigFile)));

        var outDir = folder.NewDir();
        var r = LoraMerge.Run(folder.ModelDir, adapterDir, outDir);
        Assert.Equal(2, r.Config.Rank);
        using var merged = ModelFiles.Load(outDir);
        using (no_grad()) Assert.True(merged.Forward(ids).Logits.allclose(adapted, rtol: 1e-5, atol: 1e-5));
        Assert.True(File.Exists(Path.Combine(outDir, "tokenizer.json")));

        // An adapter for another architecture is refused by name, not by a native error.
        var other = folder.NewDir();
        using (var small = new Transformer(folder.Config with { HiddenSize = 48 }))
        {
            ModelFiles.Save(other, small);
            var e = Assert.Throws<SeekSharpException>(() => Lora.Load(adapterDir, small));
            Assert.Contains("shape", e.Message);
        }
    }

    [Fact]
    public void LoraFineTuningChangesOnlyTheAdaptedProjectionsAndSpecialTokenRows()
    {
        var outDir = folder.NewDir();
        var r = SftTrainer.Run(new SftConfig
        {
            ModelDir = folder.ModelDir, DataPath = folder.PingPong(), OutDir = outDir, ValFraction = 0, Lora = new LoraConfig { Rank = 4, Alpha = 8 },
            Train = SftConfig.DefaultTrain with { Steps = 4, BatchSize = 4, LearningRate = 1e-2, WarmupSteps = 0, Precision = "fp32" },
        });
        Assert.Equal(Path.Combine(outDir, SftTrainer.AdapterFolder), r.AdapterDir);

        var before = Safetensors.Load(Path.Combine(folder.ModelDir, ModelFiles.WeightsFile));
        var after = Safetensors.Load(Path.Combine(outDir, ModelFiles.WeightsFile));
        using var probe = ModelFiles.Load(folder.ModelDir);
        var adapted = Lora.Targets(probe).Select(t => t.Name + ".weight").ToHashSet();
        Assert.Equal(before.Keys.Order(), after.Keys.Order());
        int changed = 0;
        foreach (var (name, t) in before)
        {
            if (name == "model.embed_tokens.weight") continue;
            bool same = t.eq(after[name]).all().item<bool>();
            if (adapted.Contains(name)) { if (!same) changed++; }
            else Assert.True(same, $"{name} is not adapted but changed");   // norms, routers and their biases, routed experts
        }
        Assert.True(changed > adapted.Count / 2, $"only {changed} of {adapted.Count} adapted weights moved");

        // Embedding rows: the special tokens' rows train (pretraining never saw them), every other row is bitwise the base's.
        var specials = folder.Tokenizer.Specials.Values.ToHashSet();
        var rowSame = before["model.embed_tokens.weight"].eq(after["model.embed_tokens.weight"]).all(1).data<bool>().ToArray();
        for (int id = 0; id < rowSame.Length; id++)
            if (!specials.Contains(id)) Assert.True(rowSame[id], $"row {id} changed");
        Assert.Contains(specials, id => !rowSame[id]);

        // The saved adapter on the base reproduces the merged output model.
        var ids = Ids(folder.Config.VocabSize);
        Lora.Load(r.AdapterDir!, probe);
        using var merged = ModelFiles.Load(outDir);
        using var _ = no_grad();
        Assert.True(merged.Forward(ids).Logits.allclose(probe.Forward(ids).Logits, rtol: 1e-5, atol: 1e-5));
    }
}
