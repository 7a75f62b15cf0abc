using System.Text.Json.Nodes;
using SeekSharp.Checkpoints;
using SeekSharp.Modeling;
using SeekSharp.Tests.Cli;
using SeekSharp.Tests.Modeling;
using static TorchSharp.torch;

namespace SeekSharp.Tests.Checkpoints;

/// <summary>Model folders written as Hugging Face shards with an index (decision 0027) load as one file does.</summary>
public class ShardedFolderTests : TempDirTest
{
    const long Shard = 10_000; // the test MLA + MoE model is ~96 KB of fp32: about ten shards

    static JsonObject Index(string dir) => (JsonObject)JsonNode.Parse(File.ReadAllText(Path.Combine(dir, ModelFiles.IndexFile)))!;

    static Tensor Logits(Transformer m)
    {
        using var _ = no_grad();
        m.eval();
        using var ids = tensor(new long[] { 1, 5, 9, 13, 2, 7, 30, 41 }).view(1, 8);
        return m.Forward(ids).Logits.detach().clone();
    }

    [Fact]
    public void AShardedFolderHasHuggingFacesIndexAndLoadsToTheSameLogits()
    {
        var dir = NewDir();
        using var model = new Transformer(TestModels.Mla(), seed: 3);
        ModelFiles.Save(dir, model, maxShardBytes: Shard);

        Assert.False(File.Exists(Path.Combine(dir, ModelFiles.WeightsFile)));
        var shards = Directory.GetFiles(dir, "model-*-of-*.safetensors").Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList();
        Assert.True(shards.Count > 2, $"{shards.Count} shards");
        Assert.Equal(Enumerable.Range(1, shards.Count).Select(i => $"model-{i:D5}-of-{shards.Count:D5}.safetensors"), shards);
        var index = Index(dir);
        var map = index["weight_map"]!.AsObject();
        var state = model.state_dict();
        Assert.Equal(state.Keys.Order(StringComparer.Ordinal), map.Select(kv => kv.Key).Order(StringComparer.Ordinal));
        Assert.Equal(state.Values.Sum(t => t.numel() * t.element_size()), index["metadata"]!["total_size"]!.GetValue<long>());
        foreach (var shard in shards)
        {
            var tensors = Safetensors.Load(Path.Combine(dir, shard!));
            long bytes = tensors.Values.Sum(t => t.numel() * t.element_size());
            Assert.True(bytes <= Shard || tensors.Count == 1, $"{shard}: {bytes} bytes in {tensors.Count} tensors");
            Assert.All(tensors.Keys, n => Assert.Equal(shard, map[n]!.GetValue<string>()));
            foreach (var t in tensors.Values) t.Dispose();
        }

        using var loaded = ModelFiles.Load(dir);
        using var want = Logits(model);
        using var got = Logits(loaded);
        Assert.True(want.allclose(got, rtol: 0, atol: 0)); // bit for bit

        // What a pipeline's driver reads to hand each stage its part of a checkpoint.
        var all = ModelFiles.LoadTensors(dir);
        Assert.Equal(state.Keys.Order(StringComparer.Ordinal), all.Keys.Order(StringComparer.Ordinal));
        Assert.All(all, kv => Assert.True(kv.Value.allclose(state[kv.Key], rtol: 0, atol: 0), kv.Key));
        foreach (var t in all.Values) t.Dispose();
    }

    [Fact]
    public void ResavingOneFileRemovesTheShardsAndResavingShardsRemovesTheFile()
    {
        var dir = NewDir();
        using var model = new Transformer(TestModels.Mla(), seed: 4);
        ModelFiles.Save(dir, model, maxShardBytes: Shard);
        ModelFiles.Save(dir, model);
        Assert.True(File.Exists(Path.Combine(dir, ModelFiles.WeightsFile)));
        Assert.False(File.Exists(Path.Combine(dir, ModelFiles.IndexFile)));
        Assert.Empty(Directory.GetFiles(dir, "model-*-of-*.safetensors"));

        ModelFiles.Save(dir, model, maxShardBytes: Shard);
        Assert.False(File.Exists(Path.Combine(dir, ModelFiles.WeightsFile)));
        // Fewer, larger shards: the old set's names (of another N) are gone.
        ModelFiles.Save(dir, model, maxShardBytes: 3 * Shard);
        var count = Index(dir)["weight_map"]!.AsObject().Select(kv => kv.Value!.GetValue<string>()).Distinct().Count();
        Assert.Equal(count, Directory.GetFiles(dir, "model-*-of-*.safetensors").Length);
        using var loaded = ModelFiles.Load(dir);
        using var want = Logits(model);
        using var got = Logits(loaded);
        Assert.True(want.allclose(got, rtol: 0, atol: 0)); // bit for bit
    }

    [Fact]
    public void AMissingShardOrAWeightMapNamingAMissingTensorIsOneErrorNamingTheFile()
    {
        var dir = NewDir();
        using (var model = new Transformer(TestModels.Mla(), seed: 5)) ModelFiles.Save(dir, model, maxShardBytes: Shard);
        var index = Path.Combine(dir, ModelFiles.IndexFile);
        var good = File.ReadAllText(index);

        var second = Path.Combine(dir, ModelWeights.ShardName(2, Directory.GetFiles(dir, "model-*-of-*.safetensors").Length));
        File.Move(second, second + ".away");
        var e = Assert.Throws<SeekSharpException>(() => ModelFiles.Load(dir));
        Assert.Contains(second, e.Message);
        Assert.Contains("not found", e.Message);
        Assert.DoesNotContain('\n', e.Message);
        File.Move(second + ".away", second);

        var obj = Index(dir);
        obj["weight_map"]!["model.layers.9.mlp.gate.weight"] = obj["weight_map"]!.AsObject().First().Value!.GetValue<string>();
        File.WriteAllText(index, obj.ToJsonString());
        e = Assert.Throws<SeekSharpException>(() => ModelFiles.Load(dir));
        Assert.Contains(index, e.Message);
        Assert.Contains("'model.layers.9.mlp.gate.weight'", e.Message);

        obj = (JsonObject)JsonNode.Parse(good)!;
        var first = obj["weight_map"]!.AsObject().First().Key;
        obj["weight_map"]!.AsObject().Remove(first);                     // a shard holds a tensor the index does not name
        File.WriteAllText(index, obj.ToJsonString());
        e = Assert.Throws<SeekSharpException>(() => ModelFiles.Load(dir));
        Assert.Contains($"'{first}'", e.Message);
        Assert.Contains("weight_map", e.Message);

        obj = (JsonObject)JsonNode.Parse(good)!;
        obj["weight_map"]![first] = "../elsewhere.safetensors";
        File.WriteAllText(index, obj.ToJsonString());
        e = Assert.Throws<SeekSharpException>(() => ModelFiles.Load(dir));
        Assert.Contains(index, e.Message);

        File.WriteAllText(index, "{ not json");
        e = Assert.Throws<SeekSharpException>(() => ModelFiles.Load(dir));
        Assert.Contains(index, e.Message);
    }

    [Fact]
    public void AnIndexWithNewerHuggingFaceMetadataLoads()
    {
        // Recent transformers releases also write metadata.total_parameters (and a metadata may carry more); the reader takes only the weight_map.
        var dir = NewDir();
        using var model = new Transformer(TestModels.Mla(), seed: 6);
        ModelFiles.Save(dir, model, maxShardBytes: Shard);
        var obj = Index(dir);
        obj["metadata"]!["total_parameters"] = model.parameters().Sum(p => p.numel());
        File.WriteAllText(Path.Combine(dir, ModelFiles.IndexFile), obj.ToJsonString());
        using var loaded = ModelFiles.Load(dir);
        using var want = Logits(model);
        using var got = Logits(loaded);
        Assert.True(want.allclose(got, rtol: 0, atol: 0));
    }

    [Theory]
    [InlineData("5GB", 5_000_000_000L)]
    [InlineData("500MB", 500_000_000L)]
    [InlineData("2GiB", 2L << 30)]
    [InlineData("64KiB", 64L << 10)]
    [InlineData("1.5 GB", 1_500_000_000L)]
    [InlineData("123456", 123_456L)]
    public void ShardSizesParseAsHuggingFacesDo(string text, long bytes) => Assert.Equal(bytes, ModelFiles.ParseShardSize(text, "--max-shard-size"));

    [Theory]
    [InlineData("0")]
    [InlineData("-1GB")]
    [InlineData("big")]
    [InlineData("5TBx")]
    public void BadShardSizesNameTheFlag(string text)
    {
        var e = Assert.Throws<SeekSharpException>(() => ModelFiles.ParseShardSize(text, "--max-shard-size"));
        Assert.StartsWith("--max-shard-size:", e.Message);
    }
}

/// <summary>`seek base train --max-shard-size`: checkpoints and the run folder sharded, and --resume reads them.</summary>
[Collection("Console")] // CliTests.Run redirects Console.Out
public class ShardedTrainingTests(SeekSharp.Tests.Training.TinyDataset data) : IClassFixture<SeekSharp.Tests.Training.TinyDataset>
{
    [Fact]
    public void ARunWithASmallShardSizeWritesShardedFoldersAndResumesFromThem()
    {
        var run = data.NewRunDir();
        string[] common = ["base", "train", "--data", data.DataDir, "--out", run, "--batch-size", "2", "--seq-len", "16", "--checkpoint-every", "1", "--max-shard-size", "200KB"];
        var (code, output) = CliTests.Run([.. common, "--steps", "1"]);
        Assert.True(code == 0, output);
        Assert.Contains(ModelFiles.IndexFile, output);
        var ckpt = TrainingCheckpoint.Folder(run, 1);
        foreach (var dir in new[] { run, ckpt })
        {
            Assert.True(File.Exists(Path.Combine(dir, ModelFiles.IndexFile)), $"{dir}: no index; {output}");
            Assert.False(File.Exists(Path.Combine(dir, ModelFiles.WeightsFile)));
        }
        (code, output) = CliTests.Run([.. common, "--steps", "2", "--resume"]);
        Assert.True(code == 0, output);
        Assert.True(File.Exists(Path.Combine(TrainingCheckpoint.Folder(run, 2), ModelFiles.IndexFile)));
        using var model = ModelFiles.Load(run);

        (code, output) = CliTests.Run("base", "train", "--data", data.DataDir, "--out", data.NewRunDir(), "--max-shard-size", "lots");
        Assert.Equal(1, code);
        Assert.Contains("error: --max-shard-size:", output);
    }
}
