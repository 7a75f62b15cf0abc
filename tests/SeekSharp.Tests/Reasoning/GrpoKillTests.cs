using SeekSharp.Alignment;
using SeekSharp.Checkpoints;
using SeekSharp.Reasoning;
using SeekSharp.Tests.Alignment;
using SeekSharp.Tests.Cli;

namespace SeekSharp.Tests.Reasoning;

// `seek chat rl` killed for real (SIGKILL, no cleanup) once its first checkpoint is on disk, then run again with
// --resume, must end where the uninterrupted run ends. A random-head reward model weighs into the reward so every
// group has reward variance and every step updates the policy (the rule-based rewards of a random model are all 0).
public class GrpoKillTests(ChatModelFolder folder) : IClassFixture<ChatModelFolder>
{
    string[] Args(string outDir, string rmDir, params string[] more) =>
    [
        "chat", "rl", "--model", folder.ModelDir, "--task", "arithmetic", "--out", outDir, "--group", "4", "--prompts-per-step", "2",
        "--max-tokens", "4", "--steps", "6", "--lr", "0.03", "--warmup", "2", "--beta", "0.04", "--rm", rmDir, "--rm-weight", "1",
        "--precision", "fp32", "--seed", "5", "--checkpoint-every", "1", .. more,
    ];

    [Fact]
    public void A_killed_run_resumed_ends_as_the_uninterrupted_one()
    {
        var rmDir = folder.NewDir();
        using (var rm = RewardModel.FromBase(folder.ModelDir, RewardObjective.BradleyTerry, seed: 3)) rm.Save(rmDir);

        var whole = folder.NewDir();
        using (var run = new SeekProcess(Args(whole, rmDir))) Assert.True(run.WaitForExit() == 0, run.Output);

        var dir = folder.NewDir();
        using (var run = new SeekProcess(Args(dir, rmDir)))
        {
            var first = Path.Combine(TrainingCheckpoint.Folder(dir, 1), "trainer_state.json");
            Assert.True(run.WaitUntil(() => File.Exists(first)) && !run.HasExited, $"the run ended before it could be killed:\n{run.Output}");
            run.Kill();
        }
        Assert.False(File.Exists(Path.Combine(dir, "ledger.json")), "the killed run finished anyway");
        Assert.True(TrainingCheckpoint.Latest(dir) is not null);

        using (var run = new SeekProcess(Args(dir, rmDir, "--resume")))
        {
            Assert.True(run.WaitForExit() == 0, run.Output);
            Assert.Contains("resuming from step_", run.Output);
        }
        using (var run = new SeekProcess(Args(dir, rmDir, "--resume")))
        {
            Assert.Equal(1, run.WaitForExit());
            Assert.True(run.Stderr.StartsWith("error:") && run.Stderr.Contains("the run already finished at step 6"), run.Output);
            Assert.DoesNotContain("   at ", run.Output);
        }
        var expected = GrpoResumeTests.Figures(whole);
        Assert.Equal(6, expected.Count); // a record per step, nothing else (no held-out evaluation)
        Assert.Contains(expected, l => l.Contains("kl="));
        Assert.Equal(expected, GrpoResumeTests.Figures(dir));
        GrpoResumeTests.AssertSameWeights(whole, dir);
        Assert.Equal(File.ReadAllText(Path.Combine(whole, TrainingPrompts.FileName)), File.ReadAllText(Path.Combine(dir, TrainingPrompts.FileName)));
    }
}
