using System.Diagnostics;
using System.Text.RegularExpressions;

namespace SeekSharp.Tests.Cli;

/// <summary>
/// The built `seek` (seek.dll beside the test assembly, under the test host's own dotnet) as a real child process,
/// for what only a separate process shows: exit codes and what reaches stdout and stderr, file locks between
/// processes, and kills (SIGKILL: no finally block, no flush, as in a crash or an OOM kill). Output is collected
/// as it comes, stdout and stderr apart and together; stdin is closed.
/// </summary>
public sealed class SeekProcess : IDisposable
{
    readonly Process process;
    readonly List<(bool Err, string Line)> lines = [];

    public SeekProcess(params string[] args)
    {
        var psi = new ProcessStartInfo(DotnetHost())
        {
            RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false,
        };
        psi.ArgumentList.Add("exec");
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "seek.dll"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["NO_COLOR"] = "1";
        psi.Environment["COLUMNS"] = "80";
        process = new Process { StartInfo = psi };
        process.OutputDataReceived += (_, e) => Add(false, e.Data);
        process.ErrorDataReceived += (_, e) => Add(true, e.Data);
        process.Start();
        process.StandardInput.Close();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    /// <summary>The test host runs under `dotnet`; use the same one.</summary>
    static string DotnetHost()
    {
        var host = Environment.ProcessPath;
        return host is not null && Path.GetFileNameWithoutExtension(host) == "dotnet" ? host : "dotnet";
    }

    void Add(bool err, string? line)
    {
        if (line is null) return;
        lock (lines) lines.Add((err, line));
    }

    string Join(Func<bool, bool> which) { lock (lines) return string.Join('\n', lines.Where(l => which(l.Err)).Select(l => l.Line)); }

    public string Stdout => Join(err => !err);
    public string Stderr => Join(err => err);
    /// <summary>Stdout and stderr as they arrived.</summary>
    public string Output => Join(_ => true);
    public bool HasExited => process.HasExited;

    /// <summary>Waits until <paramref name="ready"/> holds (true) or the process exits first (false).</summary>
    public bool WaitUntil(Func<bool> ready, int timeoutSeconds = 120)
    {
        var deadline = DateTime.UtcNow.AddSeconds(timeoutSeconds);
        while (DateTime.UtcNow < deadline)
        {
            if (ready()) return true;
            if (process.HasExited) return ready();
            Thread.Sleep(10);
        }
        throw new TimeoutException($"seek did not get there in {timeoutSeconds} s; output:\n{Output}");
    }

    /// <summary>The first match of <paramref name="pattern"/> in stdout, waiting for it (the process may go on).</summary>
    public Match WaitForLine(string pattern, int timeoutSeconds = 120)
    {
        Match? m = null;
        bool found = WaitUntil(() => (m = Regex.Match(Stdout, pattern, RegexOptions.Multiline)).Success, timeoutSeconds);
        return found ? m! : throw new InvalidOperationException($"seek exited before printing /{pattern}/:\n{Output}");
    }

    /// <summary>SIGKILL, and wait for it to be gone.</summary>
    public void Kill()
    {
        process.Kill(entireProcessTree: true);
        process.WaitForExit();
    }

    /// <summary>The exit code; a child still running after the limit is killed and fails the test.</summary>
    public int WaitForExit(int timeoutSeconds = 180)
    {
        if (!process.WaitForExit(timeoutSeconds * 1000))
        {
            Kill();
            Assert.Fail($"seek ran past {timeoutSeconds} s; output:\n{Output}");
        }
        process.WaitForExit(); // drains the asynchronous readers
        return process.ExitCode;
    }

    public void Dispose()
    {
        if (!process.HasExited) Kill();
        process.Dispose();
    }

    /// <summary>Runs `seek ARGS` to the end.</summary>
    public static (int Code, string Out, string Err) Run(int timeoutSeconds, params string[] args)
    {
        using var p = new SeekProcess(args);
        int code = p.WaitForExit(timeoutSeconds);
        return (code, p.Stdout, p.Stderr);
    }

    public static (int Code, string Out, string Err) Run(params string[] args) => Run(120, args);

    /// <summary>The one `error: ...` line a refused command printed on stderr (asserts there is exactly one).</summary>
    public static string OneErrorLine(string stderr)
    {
        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.StartsWith("error: ", lines[0]);
        return lines[0];
    }
}
