using SeekSharp.Alignment;
using SeekSharp.Checkpoints;
using SeekSharp.Tests.Alignment;
using static SeekSharp.Tests.Checkpoints.HostileFolder;

namespace SeekSharp.Tests.Checkpoints;

/// <summary>The other folders a model is loaded with: a LoRA adapter (`seek chat sft --lora`) and a reward model
/// (`seek chat rm`). Hostile variants are refused naming the file, before an adapter of the claimed rank is allocated.</summary>
public class HostileAdapterTests(ChatModelFolder good) : IClassFixture<ChatModelFolder>
{
    const string AdapterConfig = Lora.ConfigFile, AdapterWeights = Lora.WeightsFile;

    public static TheoryData<string> AdapterCases => new()
    {
        "r 10^9", "r 0", "lora_alpha a string", "lora_alpha negative", "config a FIFO", "config links to /dev/zero", "config a directory",
        "weights a FIFO", "weights dangling link", "weights data_offsets strings", "weights NaN", "weights truncated", "weights missing",
    };

    static Action<string> Corruption(string name) => name switch
    {
        "r 10^9" => SetJson(AdapterConfig, "r", "1000000000"),
        "r 0" => SetJson(AdapterConfig, "r", "0"),
        "lora_alpha a string" => SetJson(AdapterConfig, "lora_alpha", "\"x\""),
        "lora_alpha negative" => SetJson(AdapterConfig, "lora_alpha", "-8"),
        "config a FIFO" => Replace(AdapterConfig, "fifo"),
        "config links to /dev/zero" => Replace(AdapterConfig, "symlink to /dev/zero"),
        "config a directory" => Replace(AdapterConfig, "directory"),
        "weights a FIFO" => Replace(AdapterWeights, "fifo"),
        "weights dangling link" => Replace(AdapterWeights, "dangling symlink"),
        "weights data_offsets strings" => dir =>
        {
            var path = Path.Combine(dir, AdapterWeights);
            var (h, data) = ReadSafetensors(path);
            h[h.First(kv => kv.Key != "__metadata__").Key]!["data_offsets"] = new System.Text.Json.Nodes.JsonArray("0", "4");
            WriteSafetensors(path, h.ToJsonString(), data);
        },
        "weights NaN" => dir =>
        {
            var (h, _) = ReadSafetensors(Path.Combine(dir, AdapterWeights));
            PokeFloat(h.First(kv => kv.Key.EndsWith("lora_A.weight")).Key, 0, float.NaN, AdapterWeights)(dir);
        },
        "weights truncated" => Truncate(AdapterWeights, n => n - 3),
        "weights missing" => Replace(AdapterWeights, "missing"),
        _ => throw new ArgumentException(name),
    };

    [Theory]
    [MemberData(nameof(AdapterCases))]
    public void HostileAdapterFoldersAreRefusedNamingTheFile(string name)
    {
        var dir = good.NewDir();
        using (var model = ModelFiles.Load(good.ModelDir))
        {
            Lora.Attach(model, new LoraConfig { Rank = 2, Alpha = 4 }, seed: 1);
            Lora.Save(dir, model, new LoraConfig { Rank = 2, Alpha = 4 }, good.ModelDir);
        }
        Corruption(name)(dir);
        using var probe = ModelFiles.Load(good.ModelDir);
        var e = Assert.Throws<SeekSharpException>(() => Lora.Load(dir, probe));
        Assert.Contains(dir, e.Message);
        Assert.Contains(name.StartsWith("weights") ? AdapterWeights : AdapterConfig, e.Message);
    }

    [Theory]
    [InlineData("fifo")]
    [InlineData("symlink to /dev/zero")]
    [InlineData("looping symlink")]
    public void AHostileRewardConfigIsRefusedNamingTheFile(string kind)
    {
        var dir = good.NewDir();
        using (var rm = RewardModel.FromBase(good.ModelDir, RewardObjective.BradleyTerry)) rm.Save(dir);
        Replace(RewardModel.InfoFile, kind)(dir);
        var e = Assert.Throws<SeekSharpException>(() => RewardModel.Load(dir));
        Assert.Contains(Path.Combine(dir, RewardModel.InfoFile), e.Message);
    }

    [Fact]
    public void ARewardHeadWithNaNIsRefusedNamingTheTensor()
    {
        var dir = good.NewDir();
        using (var rm = RewardModel.FromBase(good.ModelDir, RewardObjective.BradleyTerry)) rm.Save(dir);
        var (h, _) = ReadSafetensors(Path.Combine(dir, RewardModel.HeadFile));
        var name = h.First(kv => kv.Key != "__metadata__").Key;
        PokeFloat(name, 0, float.NaN, RewardModel.HeadFile)(dir);
        var e = Assert.Throws<SeekSharpException>(() => RewardModel.Load(dir));
        Assert.Contains(RewardModel.HeadFile, e.Message);
        Assert.Contains(name, e.Message);
    }
}
