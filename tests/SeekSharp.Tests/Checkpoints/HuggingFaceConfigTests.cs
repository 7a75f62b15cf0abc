using System.Reflection;
using System.Text.Json.Nodes;
using SeekSharp.Checkpoints;
using SeekSharp.Modeling;
using SeekSharp.Tests.Modeling;
using SeekSharp.Tests.Tokenization;
using SeekSharp.Tokenization;
using static TorchSharp.torch;

namespace SeekSharp.Tests.Checkpoints;

/// <summary>
/// Issue 15, item 6: config.json as transformers reads it. Our folders carry the tokenizer's special ids
/// (and a generation_config.json), write "no query compression" as null and a dense model's
/// first_k_dense_replace as the layer count; a config.json of the public DeepSeek-V3 shape loads and runs;
/// what transformers would compute differently is refused by field.
/// </summary>
public class HuggingFaceConfigTests : TempDirTest
{
    static BpeTokenizer Tok => TokenizerFixture.Tokenizer;

    static JsonObject ReadJson(string path) => JsonNode.Parse(File.ReadAllText(path))!.AsObject();

    static void AssertIds(JsonObject o)
    {
        Assert.Equal(Tok.BosId, (int)o["bos_token_id"]!);
        Assert.Equal(Tok.EosId, (int)o["eos_token_id"]!);
        Assert.Equal(Tok.PadId, (int)o["pad_token_id"]!);
    }

    [Fact]
    public void EveryModelFolderCarriesTheTokenizersIdsAndAGenerationConfig()
    {
        var cfg = TestModels.Mla() with { VocabSize = TokenizerFixture.VocabSize };
        using var model = new Transformer(cfg, seed: 3);
        var tokDir = NewDir();
        Tok.Save(tokDir);

        // Copied in by Save itself, from another folder (the fine-tuning stages).
        var copied = NewDir();
        ModelFiles.Save(copied, model, tokenizerFrom: tokDir);
        // Already in the folder (pretraining, the reward model).
        var beside = NewDir();
        Tok.Save(beside);
        ModelFiles.Save(beside, model);
        // A checkpoint is a model folder too.
        var run = NewDir();
        using var optimizer = new SeekSharp.Training.AdamW(model.named_parameters(), new SeekSharp.Training.TrainConfig());
        var ckpt = TrainingCheckpoint.Save(run, model, optimizer, new TrainerState { Step = 1 }, tokenizerDir: tokDir);

        foreach (var dir in new[] { copied, beside, ckpt })
        {
            AssertIds(ReadJson(Path.Combine(dir, "config.json")));
            var gen = ReadJson(Path.Combine(dir, "generation_config.json"));
            AssertIds(gen);
            // Nothing that changes transformers' generate defaults (sampling, lengths).
            Assert.Equal(["bos_token_id", "eos_token_id", "pad_token_id"], gen.Select(kv => kv.Key).Order());
            using var back = ModelFiles.Load(dir);
            Assert.Equal(cfg.ToJson(), back.Config.ToJson());
        }
        // The eos id is <|eos|>, the token SeekSharp stops at.
        Assert.Equal(SpecialTokens.Eos, Tok.IdToToken((int)ReadJson(Path.Combine(copied, "generation_config.json"))["eos_token_id"]!));

        // Without a tokenizer there is nothing to write them from.
        var bare = NewDir();
        ModelFiles.Save(bare, model);
        Assert.False(ReadJson(Path.Combine(bare, "config.json")).ContainsKey("eos_token_id"));
        Assert.False(File.Exists(Path.Combine(bare, "generation_config.json")));
    }

    [Fact]
    public void NoQueryCompressionIsWrittenAsNullAndBothFormsLoad()
    {
        var cfg = TestModels.Mla() with { QLoraRank = 0 };
        using var model = new Transformer(cfg, seed: 1);
        var dir = NewDir();
        ModelFiles.Save(dir, model);
        var path = Path.Combine(dir, "config.json");
        var json = ReadJson(path);
        Assert.True(json.ContainsKey("q_lora_rank"));
        Assert.Null(json["q_lora_rank"]);
        Assert.Equal(0, ModelFiles.Load(dir).Config.QLoraRank);
        json["q_lora_rank"] = 0;                                   // what SeekSharp wrote before
        File.WriteAllText(path, json.ToJsonString());
        Assert.Equal(0, ModelConfig.Load(path).QLoraRank);
        json["q_lora_rank"] = 0.5;
        File.WriteAllText(path, json.ToJsonString());
        Assert.Contains("q_lora_rank", Assert.Throws<SeekSharpException>(() => ModelConfig.Load(path)).Message);
        // A rank is still written as a number.
        Assert.Equal(16, (int)JsonNode.Parse(TestModels.Mla().ToJson())!["q_lora_rank"]!);
    }

    [Fact]
    public void ADenseModelIsWrittenWithEveryLayerDense()
    {
        var cfg = TestModels.Mla(moe: false);                      // dense: n_routed_experts 0 (an MHA one is Llama: HuggingFaceMhaTests)
        Assert.Equal(0, cfg.NRoutedExperts);
        var json = JsonNode.Parse(cfg.ToJson())!;
        Assert.Equal(cfg.NumHiddenLayers, (int)json["first_k_dense_replace"]!);
        using var model = new Transformer(cfg, seed: 2);
        var dir = NewDir();
        ModelFiles.Save(dir, model);
        using var back = ModelFiles.Load(dir);
        Assert.Equal(cfg.ToJson(), back.Config.ToJson());
        Assert.All(Enumerable.Range(0, cfg.NumHiddenLayers), i => Assert.False(back.Config.IsMoeLayer(i)));
    }

    [Fact]
    public void TheLatentNormsUseTransformersEpsilonWhateverRmsNormEpsSays()
    {
        using var model = new Transformer(TestModels.Mla() with { RmsNormEps = 1e-5 });
        var eps = typeof(RmsNorm).GetField("eps", BindingFlags.NonPublic | BindingFlags.Instance)!;
        var norms = model.named_modules().Where(m => m.module is RmsNorm).ToDictionary(m => m.name, m => (double)eps.GetValue(m.module)!);
        Assert.Equal(1e-6, norms["model.layers.0.self_attn.q_a_layernorm"]);
        Assert.Equal(1e-6, norms["model.layers.1.self_attn.kv_a_layernorm"]);
        Assert.Equal(1e-5, norms["model.layers.0.input_layernorm"]);
        Assert.Equal(1e-5, norms["model.norm"]);
    }
}
