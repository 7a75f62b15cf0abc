using System.Diagnostics;
using SeekSharp.Alignment;
using SeekSharp.Checkpoints;
using SeekSharp.Reasoning;
using SeekSharp.Tests.Alignment;

namespace SeekSharp.Tests.Reasoning;

// `seek chat rl` killed for real (SIGKILL, no cleanup) once its first checkpoint is on disk, then run again with
// --resume, must end where the uninterrupted run ends. A random-head reward model weighs into the reward so every
// group has reward variance and every step updates the policy (the rule-based rewards of a random model are all 0).
public class GrpoKillTests(ChatModelFolder folder) : IClassFixture<ChatModelFolder>
{
    /// <summary>Starts `seek` (the seek.dll built next to the tests) as a child process with its output collected.</summary>
    sealed class Seek : IDisposable
    {
        readonly Process process;
        readonly System.Text.StringBuilder output = new();

        public Seek(params string[] args)
        {
            var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "seek.dll"));
            foreach (var a in args) psi.ArgumentList.Add(a);
            process = Process.Start(psi)!;
            process.OutputDataReceived += (_, e) => { lock (output) output.AppendLine(e.Data); };
            process.ErrorDataReceived += (_, e) => { lock (output) output.AppendLine(e.Data); };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
        }

        public bool HasExited => process.HasExited;

        public string Output { get { lock (output) return output.ToString(); } }

        /// <summary>Waits for the exit (two minutes at most, so a hung child fails the test instead of hanging it).</summary>
        public int Wait()
        {
            if (!process.WaitForExit(TimeSpan.FromMinutes(2))) { process.Kill(entireProcessTree: true); Assert.Fail($"seek did not exit:\n{Output}"); }
            process.WaitForExit(); // drains the output
            return process.ExitCode;
        }

        public void Kill()
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
        }

        public void Dispose()
        {
            if (!process.HasExited) Kill();
            process.Dispose();
        }
    }

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
        using (var run = new Seek(Args(whole, rmDir))) Assert.True(run.Wait() == 0, run.Output);

        var dir = folder.NewDir();
        using (var run = new Seek(Args(dir, rmDir)))
        {
            var first = Path.Combine(TrainingCheckpoint.Folder(dir, 1), "trainer_state.json");
            while (!File.Exists(first) && !run.HasExited) Thread.Sleep(10);
            Assert.False(run.HasExited, $"the run ended before it could be killed:\n{run.Output}");
            run.Kill();
        }
        Assert.False(File.Exists(Path.Combine(dir, "ledger.json")), "the killed run finished anyway");
        Assert.True(TrainingCheckpoint.Latest(dir) is not null);

        using (var run = new Seek(Args(dir, rmDir, "--resume")))
        {
            Assert.True(run.Wait() == 0, run.Output);
            Assert.Contains("resuming from step_", run.Output);
        }
        using (var run = new Seek(Args(dir, rmDir, "--resume")))
        {
            Assert.Equal(1, run.Wait());
            // Compared without whitespace: the console may still wrap a long line where it is not a terminal (issue 14, finding 11).
            var flat = string.Concat(run.Output.Where(c => !char.IsWhiteSpace(c)));
            Assert.True(flat.StartsWith("error:") && flat.Contains("therunalreadyfinishedatstep6"), run.Output);
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
