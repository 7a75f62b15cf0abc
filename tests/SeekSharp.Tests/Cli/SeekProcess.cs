using System.Diagnostics;

namespace SeekSharp.Tests.Cli;

/// <summary>
/// Runs the built `seek` (seek.dll beside the test assembly) as a real child process, with stdout and
/// stderr captured apart and nothing on stdin: what a user or a script sees, exit codes and kills included.
/// </summary>
internal static class SeekProcess
{
    static readonly string Dll = Path.Combine(AppContext.BaseDirectory, "seek.dll");

    public static ProcessStartInfo StartInfo(IEnumerable<string> args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false };
        psi.ArgumentList.Add("exec");
        psi.ArgumentList.Add(Dll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["COLUMNS"] = "80";
        return psi;
    }

    /// <summary>Starts `seek ARGS`; the caller reads or kills it. Output is collected into the returned buffers.</summary>
    public static (Process Process, StringBuilderSink Out, StringBuilderSink Err) Start(params string[] args)
    {
        var p = new Process { StartInfo = StartInfo(args) };
        var (o, e) = (new StringBuilderSink(), new StringBuilderSink());
        p.OutputDataReceived += (_, d) => o.Add(d.Data);
        p.ErrorDataReceived += (_, d) => e.Add(d.Data);
        p.Start();
        p.StandardInput.Close();
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        return (p, o, e);
    }

    /// <summary>Runs `seek ARGS` to the end (killed after <paramref name="timeout"/>, which fails the test).</summary>
    public static (int Code, string Out, string Err) Run(TimeSpan timeout, params string[] args)
    {
        var (p, o, e) = Start(args);
        using (p)
        {
            if (!p.WaitForExit(timeout))
            {
                p.Kill(entireProcessTree: true);
                Assert.Fail($"seek {string.Join(' ', args)} still running after {timeout.TotalSeconds} s; stderr: {e}");
            }
            p.WaitForExit(); // drains the asynchronous readers
            return (p.ExitCode, o.ToString(), e.ToString());
        }
    }

    public static (int Code, string Out, string Err) Run(params string[] args) => Run(TimeSpan.FromMinutes(2), args);
}

/// <summary>Lines a child process wrote, safe to read while it still writes.</summary>
internal sealed class StringBuilderSink
{
    readonly List<string> lines = [];

    public void Add(string? line)
    {
        if (line is null) return;
        lock (lines) lines.Add(line);
    }

    public IReadOnlyList<string> Lines { get { lock (lines) return [.. lines]; } }

    public override string ToString() => string.Join('\n', Lines);
}
