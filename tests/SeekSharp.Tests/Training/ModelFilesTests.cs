using SeekSharp.Checkpoints;
using SeekSharp.Modeling;
using SeekSharp.Tests.Modeling;

namespace SeekSharp.Tests.Training;

/// <summary>Bad model folders fail with the file and the problem named, never a native error.</summary>
public class ModelFilesTests : TempDirTest
{
    string SavedModel(ModelConfig cfg)
    {
        var dir = NewDir();
        using var m = new Transformer(cfg);
        ModelFiles.Save(dir, m);
        return dir;
    }

    [Fact]
    public void ConfigUsesHuggingFaceDeepSeekV3Keys()
    {
        var json = File.ReadAllText(Path.Combine(SavedModel(TestModels.Mla()), "config.json"));
        foreach (var key in new[] { "\"hidden_size\"", "\"n_routed_experts\"", "\"n_shared_experts\"", "\"num_experts_per_tok\"", "\"moe_intermediate_size\"",
                     "\"first_k_dense_replace\"", "\"kv_lora_rank\"", "\"q_lora_rank\"", "\"qk_rope_head_dim\"", "\"qk_nope_head_dim\"", "\"v_head_dim\"",
                     "\"scoring_func\"", "\"topk_method\"", "\"deepseek_v3\"" })
            Assert.Contains(key, json);
    }

    [Fact]
    public void MalformedConfigIsRejectedByFieldName()
    {
        var dir = SavedModel(TestModels.Mla());
        var path = Path.Combine(dir, "config.json");
        File.WriteAllText(path, File.ReadAllText(path).Replace("\"num_experts_per_tok\": 2", "\"num_experts_per_tok\": 9"));
        var e = Assert.Throws<SeekSharpException>(() => ModelFiles.Load(dir));
        Assert.Contains(path, e.Message);
        Assert.Contains("num_experts_per_tok", e.Message);
        File.WriteAllText(path, "{ not json");
        e = Assert.Throws<SeekSharpException>(() => ModelFiles.Load(dir));
        Assert.Contains("malformed", e.Message);
    }

    [Fact]
    public void WeightsFromAnotherConfigAreRejected()
    {
        var dir = SavedModel(TestModels.Mla());
        var other = SavedModel(TestModels.Mla() with { HiddenSize = 48 });
        File.Copy(Path.Combine(other, "model.safetensors"), Path.Combine(dir, "model.safetensors"), overwrite: true);
        var e = Assert.Throws<SeekSharpException>(() => ModelFiles.Load(dir));
        Assert.Contains("model.safetensors", e.Message);
        Assert.Contains("shape", e.Message);

        var dense = SavedModel(TestModels.Mla(moe: false));
        File.Copy(Path.Combine(dense, "model.safetensors"), Path.Combine(dir, "model.safetensors"), overwrite: true);
        e = Assert.Throws<SeekSharpException>(() => ModelFiles.Load(dir));
        Assert.Contains("missing", e.Message);
    }

    [Fact]
    public void TruncatedWeightsAreRejected()
    {
        var dir = SavedModel(TestModels.Mla());
        var path = Path.Combine(dir, "model.safetensors");
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(bytes.Length / 2)]);
        var e = Assert.Throws<SeekSharpException>(() => ModelFiles.Load(dir));
        Assert.Contains(path, e.Message);
    }
}
