using System.Diagnostics;

namespace SeekSharp.Tests.Cli;

/// <summary>`seek` as a real child process (seek.dll from the test output folder under the same dotnet host),
/// for what only separate processes show: file locks between processes, and kills.</summary>
static class SeekChild
{
    static ProcessStartInfo Info(IEnumerable<string> args)
    {
        var psi = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "seek.dll"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        return psi;
    }

    public static Process Start(params string[] args) => Process.Start(Info(args)) ?? throw new InvalidOperationException("cannot start seek");

    /// <summary>Runs `seek` to the end; returns its exit code and output.</summary>
    public static async Task<(int Code, string Stdout, string Stderr)> RunAsync(params string[] args)
    {
        using var p = Start(args);
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        return (p.ExitCode, await stdout, await stderr);
    }

    /// <summary>Reads the child's stdout until a line matches <paramref name="pattern"/>; the rest of its output keeps draining.</summary>
    public static async Task<System.Text.RegularExpressions.Match> WaitForLineAsync(Process p, string pattern, TimeSpan limit)
    {
        using var cts = new CancellationTokenSource(limit);
        var seen = new System.Text.StringBuilder();
        while (await p.StandardOutput.ReadLineAsync(cts.Token) is { } line)
        {
            seen.AppendLine(line);
            var m = System.Text.RegularExpressions.Regex.Match(line, pattern);
            if (m.Success)
            {
                _ = p.StandardOutput.ReadToEndAsync();
                _ = p.StandardError.ReadToEndAsync();
                return m;
            }
        }
        throw new InvalidOperationException($"seek exited before printing /{pattern}/: {seen}{await p.StandardError.ReadToEndAsync()}");
    }
}
