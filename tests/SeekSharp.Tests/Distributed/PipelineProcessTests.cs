using SeekSharp.Checkpoints;
using SeekSharp.Tests.Cli;
using SeekSharp.Tests.Training;

namespace SeekSharp.Tests.Distributed;

/// <summary>`seek base train --pipeline-stages` with real stage processes over the Orleans cluster (tiny, fp32).</summary>
[Collection("DilocoProcesses")] // one set of processes at a time: they share two cores
public class PipelineProcessTests(TinyDataset data) : TempDirTest, IClassFixture<TinyDataset>
{
    string[] Train(string run, params string[] extra) =>
        ["base", "train", "--data", data.DataDir, "--preset", "tiny", "--out", run, "--batch-size", "4", "--seq-len", "32", "--precision", "fp32",
         "--warmup", "1", "--eval-every", "2", "--checkpoint-every", "2", "--port", $"{DilocoRun.FreePort()}", .. extra];

    [Fact]
    public void TwoStageProcessesTrainAsOneProcessDoes()
    {
        var single = NewDir();
        var (code, _, err) = SeekProcess.Run(300, Train(single, "--steps", "4"));
        Assert.True(code == 0, err);
        var piped = NewDir();
        (code, var stdout, err) = SeekProcess.Run(300, Train(piped, "--steps", "4", "--pipeline-stages", "2", "--micro-batches", "2"));
        Assert.True(code == 0, stdout + err);
        Assert.Contains("stage 1 joined", stdout);
        var a = ResumeTests.Losses(single);
        var b = ResumeTests.Losses(piped);
        Assert.Equal(4, b.Count);
        for (int i = 0; i < a.Count; i++) Assert.True(Math.Abs(a[i] - b[i]) < 1e-4, $"step {i + 1}: {a[i]} vs {b[i]}");
        using var model = ModelFiles.Load(piped);   // an ordinary model folder
        Assert.True(File.Exists(Path.Combine(TrainingCheckpoint.Folder(piped, 4), TrainingCheckpoint.OptimizerFile)));
    }

    [Fact]
    public void BadPipelineFlagsAndAForeignStageAreOneLineErrors()
    {
        var run = NewDir();
        var (code, _, err) = SeekProcess.Run(120, Train(run, "--pipeline-stages", "5"));
        Assert.Equal(1, code);
        Assert.Contains("--pipeline-stages: 5 stages for 4 layers", SeekProcess.OneErrorLine(err));
        (code, _, err) = SeekProcess.Run(120, Train(run, "--pipeline-stages", "2", "--micro-batches", "3"));
        Assert.Equal(1, code);
        Assert.Contains("--micro-batches: 3 does not divide --batch-size 4", SeekProcess.OneErrorLine(err));
        Assert.False(Directory.Exists(Path.Combine(run, "checkpoints")));
        (code, _, err) = SeekProcess.Run(120, Train(run, "--pipeline-stages", "2", "--device", "cuda"));
        Assert.Equal(1, code);
        Assert.Contains("--device: pipeline stages run on the CPU", SeekProcess.OneErrorLine(err));
        (code, _, err) = SeekProcess.Run(120, Train(run, "--pipeline-stages", "1", "--max-memory", "lots"));
        Assert.Equal(1, code);
        Assert.Contains("--max-memory: expected a size like 800M or 2G, found 'lots'", SeekProcess.OneErrorLine(err));
        (code, _, err) = SeekProcess.Run(120, Train(run, "--pipeline-stages", "2", "--select", "loss"));
        Assert.Equal(1, code);
        Assert.Contains("--select: online selection scores candidates with the whole model in one process", SeekProcess.OneErrorLine(err));

        // A stage past --max-memory stops the run after its step, naming the stage and the limit.
        (code, _, err) = SeekProcess.Run(180, Train(run, "--steps", "3", "--pipeline-stages", "1", "--max-memory", "1M"));
        Assert.Equal(1, code);
        var line = SeekProcess.OneErrorLine(err);
        Assert.Contains("stage 0 (stage-0) failed: stage 0: peak RSS", line);
        Assert.Contains("passed --max-memory 1,048,576 B", line);
        Assert.Contains("no checkpoint had been written yet", line);

    }

    [Fact]
    public void AForeignStageIsRefusedAKilledStageStopsTheRunAndResumeContinuesOnOtherStages()
    {
        var run = NewDir();
        int port = DilocoRun.FreePort();
        var args = Train(run, "--steps", "40", "--pipeline-stages", "1");
        args[Array.IndexOf(args, "--port") + 1] = $"{port}";
        using var driver = new SeekProcess(args);
        var token = driver.WaitForLine(@"join token: ([0-9a-f]+)").Groups[1].Value;
        int pid = int.Parse(driver.WaitForLine(@"started stage-0 \(pid (\d+)\)").Groups[1].Value);
        driver.WaitForLine("stage 0 joined");

        var (code, _, err) = SeekProcess.Run(120, "stage", "--hub", $"127.0.0.1:{port}", "--token", token, "--preset", "small", "--name", "foreign");
        Assert.Equal(1, code);
        Assert.Contains("refused by the driver: stage foreign: --preset small is not the run's model (tiny)", SeekProcess.OneErrorLine(err));
        (code, _, err) = SeekProcess.Run(120, "stage", "--hub", $"127.0.0.1:{port}", "--token", "0123", "--name", "guesser");
        Assert.Equal(1, code);
        Assert.Contains("join token", SeekProcess.OneErrorLine(err));

        var first = Path.Combine(TrainingCheckpoint.Folder(run, 2), "trainer_state.json");
        Assert.True(driver.WaitUntil(() => File.Exists(first), 180), driver.Output);
        System.Diagnostics.Process.GetProcessById(pid).Kill();
        Assert.Equal(1, driver.WaitForExit(120));
        var line = SeekProcess.OneErrorLine(driver.Stderr);
        Assert.Contains("stage 0 (stage-0", line);
        Assert.Contains("--resume", line);
        Assert.False(File.Exists(Path.Combine(run, "ledger.json")));
        var saved = TrainingCheckpoint.Latest(run);
        Assert.NotNull(saved);
        using (ModelFiles.Load(saved!)) { }   // the last checkpoint is intact

        (code, var stdout, err) = SeekProcess.Run(300, Train(run, "--steps", "40", "--pipeline-stages", "2", "--resume"));
        Assert.True(code == 0, stdout + err);
        Assert.Equal(Enumerable.Range(1, 40), ResumeTests.Steps(run));
    }

    [Fact]
    public void StagesFromElsewhereJoinThroughRedisMembership()
    {
        int redisPort = DilocoRun.FreePort();
        var server = File.Exists("/usr/bin/redis-server") ? "/usr/bin/redis-server"
            : throw new InvalidOperationException("redis-server is not installed (apt-get install redis-server; .ci/run does it)");
        var dir = Directory.CreateTempSubdirectory("seeksharp-redis-").FullName;
        using var redis = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo(server,
            ["--port", $"{redisPort}", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir]) { RedirectStandardOutput = true, UseShellExecute = false })!;
        try
        {
            var cluster = $"redis://127.0.0.1:{redisPort}";
            var run = NewDir();
            using var driver = new SeekProcess(Train(run, "--steps", "2", "--pipeline-stages", "2", "--cluster", cluster));
            var token = driver.WaitForLine(@"join token: ([0-9a-f]+)").Groups[1].Value;
            using var a = new SeekProcess("stage", "--cluster", cluster, "--token", token, "--preset", "tiny", "--name", "a", "--threads", "1");
            using var b = new SeekProcess("stage", "--cluster", cluster, "--token", token, "--name", "b", "--threads", "1");
            Assert.True(driver.WaitForExit(240) == 0, driver.Output);
            Assert.Equal(0, a.WaitForExit(60));
            Assert.Equal(0, b.WaitForExit(60));
            Assert.Contains("stage 1 joined", driver.Stdout);
            Assert.Equal([1, 2], ResumeTests.Steps(run));
            var ledger = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(run, "ledger.json")))!;
            Assert.True(ledger["network"]!["bytes_sent"]!.GetValue<long>() > 0);
        }
        finally
        {
            redis.Kill();
            redis.WaitForExit();
            Directory.Delete(dir, recursive: true);
        }
    }
}
