using SeekSharp.Checkpoints;
using SeekSharp.Tests.Cli;
using SeekSharp.Tests.Training;

namespace SeekSharp.Tests.Distributed;

/// <summary>`seek base train --expert-parallel E` with a real expert process over the Orleans cluster (tiny, fp32).</summary>
[Collection("DilocoProcesses")] // one set of processes at a time: they share two cores
public class ExpertParallelProcessTests(TinyDataset data) : TempDirTest, IClassFixture<TinyDataset>
{
    string[] Train(string run, params string[] extra) =>
        ["base", "train", "--data", data.DataDir, "--preset", "tiny", "--out", run, "--batch-size", "4", "--seq-len", "32", "--precision", "fp32",
         "--warmup", "1", "--eval-every", "2", "--checkpoint-every", "2", "--port", $"{DilocoRun.FreePort()}", .. extra];

    [Fact]
    public void AnExpertProcessTrainsAsTheStageAlone()
    {
        var alone = NewDir();
        var (code, stdout, err) = SeekProcess.Run(300, Train(alone, "--steps", "3", "--pipeline-stages", "1"));
        Assert.True(code == 0, stdout + err);
        var spread = NewDir();
        (code, stdout, err) = SeekProcess.Run(300, Train(spread, "--steps", "3", "--expert-parallel", "2"));
        Assert.True(code == 0, stdout + err);
        Assert.Contains("stage 1 joined", stdout);
        Assert.Contains("routed experts 4-7 of layers 0-3 (expert range 1)", stdout);
        var a = ResumeTests.Losses(alone);
        var b = ResumeTests.Losses(spread);
        Assert.Equal(3, b.Count);
        for (int i = 0; i < a.Count; i++) Assert.True(Math.Abs(a[i] - b[i]) < 1e-5, $"step {i + 1}: {a[i]} vs {b[i]}");
        var metrics = File.ReadAllText(Path.Combine(spread, SeekSharp.Ledger.MetricsLog.FileName));
        Assert.Contains("\"ep_layer1_sent\"", metrics);
        Assert.Contains("\"experts1_peak_rss\"", metrics);
        using var model = ModelFiles.Load(spread);   // an ordinary model folder, every expert in it
    }

    [Fact]
    public void BadExpertParallelFlagsAreOneLineErrors()
    {
        var run = NewDir();
        foreach (var (flag, preset, message) in new[]
                 {
                     ("3", "tiny", "--expert-parallel: 3 does not divide the 8 routed experts into equal ranges."),
                     ("0", "tiny", "--expert-parallel: expected 1 or more, found 0."),
                     ("2", "small-dense", "--expert-parallel: 2 expert processes for a dense model (no MoE layers); use 1."),
                 })
        {
            var args = Train(run, "--expert-parallel", flag);
            args[Array.IndexOf(args, "--preset") + 1] = preset;
            var (code, _, err) = SeekProcess.Run(120, args);
            Assert.Equal(1, code);
            Assert.Equal(message, SeekProcess.OneErrorLine(err).Replace("error: ", ""));
        }
        Assert.False(Directory.Exists(Path.Combine(run, "checkpoints")));
    }

    [Fact]
    public void AKilledExpertProcessStopsTheRunAndResumeContinuesOnOneProcess()
    {
        var run = NewDir();
        using var driver = new SeekProcess(Train(run, "--steps", "30", "--expert-parallel", "2"));
        driver.WaitForLine(@"started stage-1 \(pid \d+\)");
        var pids = System.Text.RegularExpressions.Regex.Matches(driver.Output, @"started (stage-\d) \(pid (\d+)\)")
            .ToDictionary(m => m.Groups[1].Value, m => int.Parse(m.Groups[2].Value));
        var expert = driver.WaitForLine(@"(stage-\d): stage 1: routed experts").Groups[1].Value;
        var first = Path.Combine(TrainingCheckpoint.Folder(run, 2), "trainer_state.json");
        Assert.True(driver.WaitUntil(() => File.Exists(first), 180), driver.Output);
        System.Diagnostics.Process.GetProcessById(pids[expert]).Kill();
        Assert.Equal(1, driver.WaitForExit(120));
        var line = SeekProcess.OneErrorLine(driver.Stderr);
        Assert.Contains($"expert process 1 (stage 1, {expert}", line);
        Assert.Contains("--resume", line);
        var saved = TrainingCheckpoint.Latest(run);
        Assert.NotNull(saved);
        using (ModelFiles.Load(saved!)) { }   // the last checkpoint is intact

        var (code, stdout, err) = SeekProcess.Run(300, Train(run, "--steps", "30", "--resume"));
        Assert.True(code == 0, stdout + err);
        Assert.Equal(Enumerable.Range(1, 30), ResumeTests.Steps(run));
    }
}
