using SeekSharp.Recipes;
using SeekSharp.Training;

namespace SeekSharp.Tests.Recipes;

public class StageSettingsTests : TempDirTest
{
    [Fact]
    public void Records_flatten_and_equal_settings_have_equal_keys()
    {
        var a = StageSettings.Of("sft", "parent-key", ("steps", 100), ("train", new TrainConfig { Steps = 5, LearningRate = 3e-4 }));
        var b = StageSettings.Of("sft", "parent-key", ("steps", 100), ("train", new TrainConfig { Steps = 5, LearningRate = 3e-4 }));
        Assert.Equal(a.Key, b.Key);
        Assert.Equal("5", a.Values["train.steps"]);
        Assert.Empty(a.Differences(b));

        var c = StageSettings.Of("sft", "parent-key", ("steps", 55), ("train", new TrainConfig { Steps = 5, LearningRate = 3e-4 }));
        Assert.NotEqual(a.Key, c.Key);
        Assert.Equal(["steps: was 100, now 55"], a.Differences(c));

        var otherParent = StageSettings.Of("sft", "another", ("steps", 100), ("train", new TrainConfig { Steps = 5, LearningRate = 3e-4 }));
        Assert.Contains("different model", Assert.Single(a.Differences(otherParent)));
    }

    [Fact]
    public void Saved_settings_read_back_and_a_malformed_file_is_named()
    {
        var path = Path.Combine(NewDir(), StageSettings.FileName);
        var s = StageSettings.Of("pretraining", null, ("--preset", "small"), ("lr", 1.5e-3));
        s.Write(path);
        var back = StageSettings.Read(path)!;
        Assert.Equal(s.Key, back.Key);
        Assert.Empty(back.Differences(s));
        Assert.Null(StageSettings.Read(path + ".missing"));

        File.WriteAllText(path, "{\"stage\": \"pretraining\"}");
        var e = Assert.Throws<SeekSharpException>(() => StageSettings.Read(path));
        Assert.Contains(path, e.Message);
    }
}
