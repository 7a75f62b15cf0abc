using System.Diagnostics;

namespace SeekSharp.Tests.Training;

/// <summary>`seek` started as a real child process (the seek.dll built next to the tests), for tests that kill it.</summary>
public sealed class SeekProcess : IDisposable
{
    readonly Process process;
    readonly System.Text.StringBuilder output = new();

    public SeekProcess(params string[] args)
    {
        var psi = new ProcessStartInfo(DotnetHost()) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "seek.dll"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["NO_COLOR"] = "1";
        process = Process.Start(psi) ?? throw new InvalidOperationException("could not start seek");
        process.OutputDataReceived += (_, e) => { lock (output) output.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { lock (output) output.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    /// <summary>The test host runs under `dotnet`; use the same one.</summary>
    static string DotnetHost()
    {
        var host = Environment.ProcessPath;
        return host is not null && Path.GetFileNameWithoutExtension(host) == "dotnet" ? host : "dotnet";
    }

    public string Output { get { lock (output) return output.ToString(); } }
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

    /// <summary>SIGKILL: no finally block, no flush, as in a crash or an OOM kill.</summary>
    public void Kill()
    {
        process.Kill(entireProcessTree: true);
        process.WaitForExit();
    }

    public int WaitForExit(int timeoutSeconds = 180)
    {
        if (!process.WaitForExit(timeoutSeconds * 1000)) { Kill(); throw new TimeoutException($"seek ran past {timeoutSeconds} s; output:\n{Output}"); }
        process.WaitForExit();
        return process.ExitCode;
    }

    public void Dispose()
    {
        if (!process.HasExited) Kill();
        process.Dispose();
    }
}
