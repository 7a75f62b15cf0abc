using System.Net;
using System.Net.Sockets;
using SeekSharp.Data;
using SeekSharp.Data.Synthetic;
using SeekSharp.Tests.Cli;
using SeekSharp.Tests.Training;
using SeekSharp.Tokenization;

namespace SeekSharp.Tests.Distributed;

/// <summary>Bad input to `seek hub` and `seek worker`, through real processes: one `error:` line and exit 1.</summary>
[Collection("DilocoProcesses")]
public class DilocoInputTests(TinyDataset data) : TempDirTest, IClassFixture<TinyDataset>
{
    [Fact]
    public void WorkersWithAnotherTokenizerOrTheWrongTokenAreRefusedAtJoin()
    {
        var root = NewDir();
        var corpus = SyntheticCorpus.Write(Path.Combine(root, "c.jsonl"), 200, seed: 9);
        TokenizerTraining.Run([corpus], 280, Path.Combine(root, "tok"));
        var other = Path.Combine(root, "data");
        DatasetBuilder.Tokenize([corpus], Path.Combine(root, "tok"), other, valFraction: 0.1);

        using var run = new DilocoRun(data.DataDir, Path.Combine(root, "run"), 1).StartHub();
        var foreign = run.Start(["worker", "--hub", $"127.0.0.1:{run.Port}", "--data", other, "--token", run.Token, "--name", "foreign"]);
        Assert.Equal(1, foreign.WaitForExit(120));
        Assert.Contains("refused by the hub: data: tokenizer hash", SeekProcess.OneErrorLine(foreign.Stderr));
        var guesser = run.Start(["worker", "--hub", $"127.0.0.1:{run.Port}", "--data", data.DataDir, "--token", "0123", "--name", "guesser"]);
        Assert.Equal(1, guesser.WaitForExit(120));
        Assert.Contains("join token", SeekProcess.OneErrorLine(guesser.Stderr));
        Assert.Contains("refused foreign", run.Hub.Stdout);

        // A worker that prepares its own data takes the hub's tokenizer first (only with the token).
        var tokDir = Path.Combine(root, "hub-tokenizer");
        var (code, _, err) = SeekProcess.Run(120, "worker", "--hub", $"127.0.0.1:{run.Port}", "--token", "0123", "--get-tokenizer", tokDir);
        Assert.Equal(1, code);
        Assert.Contains("join token", SeekProcess.OneErrorLine(err));
        (code, _, err) = SeekProcess.Run(120, "worker", "--hub", $"127.0.0.1:{run.Port}", "--token", run.Token, "--get-tokenizer", tokDir);
        Assert.True(code == 0, err);
        Assert.Equal(File.ReadAllBytes(Path.Combine(data.DataDir, "tokenizer.json")), File.ReadAllBytes(Path.Combine(tokDir, "tokenizer.json")));
        Assert.Equal(BpeTokenizer.Load(data.DataDir).Hash, BpeTokenizer.Load(tokDir).Hash);
    }

    [Fact]
    public void AHubPortInUseAndAnUnreachableHubAreOneLineErrors()
    {
        var busy = new TcpListener(IPAddress.Loopback, DilocoRun.FreePort());
        busy.Start();
        try
        {
            int port = ((IPEndPoint)busy.LocalEndpoint).Port;
            var (code, _, err) = SeekProcess.Run(120, "hub", "--data", data.DataDir, "--preset", "tiny", "--out", NewDir(), "--inner-steps", "1",
                "--outer-steps", "1", "--port", $"{port}");
            Assert.Equal(1, code);
            Assert.Contains($"--port {port}: 127.0.0.1:{port} is already in use", SeekProcess.OneErrorLine(err));
        }
        finally { busy.Stop(); }

        var (c2, out2, err2) = SeekProcess.Run(120, "worker", "--hub", $"127.0.0.1:{DilocoRun.FreePort()}", "--data", data.DataDir, "--token", "x",
            "--connect-timeout", "12");                    // room for a retry even when a first attempt is slow under load
        Assert.Equal(1, c2);
        Assert.Contains("cannot reach the hub", SeekProcess.OneErrorLine(err2));
        Assert.Contains("retrying in", out2);                  // it retried, with backoff, before giving up

        var (c3, _, err3) = SeekProcess.Run(60, "worker", "--hub", "nohost", "--data", data.DataDir, "--token", "x");
        Assert.Equal(1, c3);
        Assert.Contains("--hub: expected HOST:PORT", SeekProcess.OneErrorLine(err3));
    }
}
