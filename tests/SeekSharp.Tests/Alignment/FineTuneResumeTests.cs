using SeekSharp.Alignment;
using SeekSharp.Checkpoints;
using SeekSharp.Tests.Cli;
using SeekSharp.Tests.Training;

namespace SeekSharp.Tests.Alignment;

// `seek chat sft` (full and LoRA) and `seek chat rm` killed as real processes, then --resume: the per-step
// losses, the final weights (and adapters, and the reward head) equal the uninterrupted run's to the bit.
[Collection("Console")] // CliTests.Run redirects Console.Out
public class FineTuneResumeTests(ChatModelFolder folder) : IClassFixture<ChatModelFolder>
{
    const int Steps = 12;

    string Pairs(int n)
    {
        var path = folder.NewDir() + ".jsonl";
        File.WriteAllLines(path, Enumerable.Range(0, n).Select(i =>
            $$"""{"prompt":"what is {{i % 5}} plus {{i % 3}}","chosen":"<think>add</think><answer>{{i % 5 + i % 3}}</answer>","rejected":"I do not know"}"""));
        return path;
    }

    static string[] Common(string outDir) =>
        ["--out", outDir, "--steps", $"{Steps}", "--batch-size", "4", "--precision", "fp32", "--eval-every", "4", "--seed", "3", "--checkpoint-every", "2"];

    /// <summary>Runs <paramref name="args"/> uninterrupted in one folder, and killed after its first checkpoint then resumed in another.</summary>
    static (string Straight, string Resumed) StraightAndKilled(Func<string, string[]> args, string straight, string run)
    {
        var (code, output) = CliTests.Run(args(straight));
        Assert.True(code == 0, output);
        using (var child = new SeekProcess(args(run)))
        {
            Assert.True(child.WaitUntil(() => TrainingCheckpoint.Latest(run) is not null), "the run ended before its first checkpoint:\n" + child.Output);
            child.Kill();
        }
        Assert.False(File.Exists(Path.Combine(run, "ledger.json")), "killed after the run had finished");
        (code, output) = CliTests.Run([.. args(run), "--resume"]);
        Assert.True(code == 0, output);
        Assert.Equal(Enumerable.Range(1, Steps), ResumeTests.Steps(run));
        Assert.Equal(ResumeTests.Losses(straight), ResumeTests.Losses(run));
        // The storage section lists what the uninterrupted run wrote: every checkpoint (the one resumed from included), kept or pruned.
        static List<(string, string, bool)> Artifacts(string dir) =>
            [.. SeekSharp.Ledger.LedgerEntry.Read(Path.Combine(dir, "ledger.json")).Storage!.Artifacts.Select(a => (a.Path, a.Kind, a.Kept))];
        Assert.Equal(Artifacts(straight), Artifacts(run));
        return (straight, run);
    }

    static void SameBytes(string a, string b, string file) =>
        Assert.True(File.ReadAllBytes(Path.Combine(a, file)).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(b, file))), $"{file} differs");

    [Theory]
    [InlineData(0)]
    [InlineData(4)]
    public void SftResumedAfterAKillEqualsTheUninterruptedRun(int lora)
    {
        var data = folder.PingPong(24);
        string[] Args(string outDir) => ["chat", "sft", "--model", folder.ModelDir, "--data", data, "--lr", "0.01", "--warmup", "2", "--lora", $"{lora}", .. Common(outDir)];
        var (straight, run) = StraightAndKilled(Args, folder.NewDir(), folder.NewDir());
        SameBytes(straight, run, ModelFiles.WeightsFile);
        if (lora > 0) SameBytes(Path.Combine(straight, SftTrainer.AdapterFolder), Path.Combine(run, SftTrainer.AdapterFolder), Lora.WeightsFile);

        // Every checkpoint is a model folder (with LoRA: the merged model), and the last one is the final model.
        var last = TrainingCheckpoint.Latest(run)!;
        SameBytes(last, run, ModelFiles.WeightsFile);
        var (code, output) = CliTests.Run("generate", "--model", last, "--prompt", "ping 1", "--chat", "--max-tokens", "3", "--temperature", "0");
        Assert.True(code == 0, output);
    }

    [Fact]
    public void RewardModelResumedAfterAKillEqualsTheUninterruptedRun()
    {
        var data = Pairs(24);
        string[] Args(string outDir) => ["chat", "rm", "--model", folder.ModelDir, "--data", data, "--lr", "0.003", .. Common(outDir)];
        var (straight, run) = StraightAndKilled(Args, folder.NewDir(), folder.NewDir());
        SameBytes(straight, run, ModelFiles.WeightsFile);
        SameBytes(straight, run, RewardModel.HeadFile);
        using var rm = RewardModel.Load(TrainingCheckpoint.Latest(run)!);   // a checkpoint is a reward-model folder
    }

    [Fact]
    public void ResumeRefusesOtherSettingsAndAFreshStartRefusesACheckpointedFolder()
    {
        var data = folder.PingPong(24);
        var outDir = folder.NewDir();
        var (code, output) = CliTests.Run(["chat", "sft", "--model", folder.ModelDir, "--data", data, .. Common(outDir)[..^2], "--checkpoint-every", "12"]);
        Assert.True(code == 0, output);
        (code, output) = CliTests.Run(["chat", "sft", "--model", folder.ModelDir, "--data", data, .. Common(outDir), "--resume", "--lr", "0.5"]);
        Assert.Equal(1, code);
        Assert.Contains("other settings", output);
        (code, output) = CliTests.Run(["chat", "sft", "--model", folder.ModelDir, "--data", data, .. Common(outDir)]);
        Assert.Equal(1, code);
        Assert.Contains("--resume", output);
        (code, output) = CliTests.Run(["chat", "sft", "--model", folder.ModelDir, "--data", data, .. Common(outDir), "--resume"]);
        Assert.Equal(1, code);
        Assert.Contains("finished", output);

        // A folder whose run died before its first checkpoint: --resume has nothing to go on, a fresh start
        // replaces the dead run's metrics instead of appending to them.
        var dead = Directory.CreateDirectory(folder.NewDir()).FullName;
        File.WriteAllText(Path.Combine(dead, "metrics.jsonl"), "{\"step\":1,\"loss\":9}\n{\"step\":2,\"loss\":9}\n");
        (code, output) = CliTests.Run(["chat", "rm", "--model", folder.ModelDir, "--data", Pairs(8), .. Common(dead), "--resume"]);
        Assert.Equal(1, code);
        Assert.Contains("no checkpoint", output);
        (code, output) = CliTests.Run(["chat", "rm", "--model", folder.ModelDir, "--data", Pairs(8), "--out", dead, "--steps", "2", "--batch-size", "4", "--checkpoint-every", "0"]);
        Assert.True(code == 0, output);
        Assert.Equal([1, 2], ResumeTests.Steps(dead));
    }
}
