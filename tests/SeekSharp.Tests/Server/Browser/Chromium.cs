using System.Diagnostics;

namespace SeekSharp.Tests.Server.Browser;

/// <summary>Headless Chromium with the DevTools protocol on a free port, in a fresh profile removed on dispose.</summary>
sealed class Chromium : IDisposable
{
    static readonly string[] Candidates = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"];

    /// <summary>The browser binary ($CHROMIUM, else Debian's chromium), or null when none is installed.</summary>
    public static string? Executable { get; } =
        new[] { Environment.GetEnvironmentVariable("CHROMIUM") }.Concat(Candidates).FirstOrDefault(p => !string.IsNullOrEmpty(p) && File.Exists(p));

    readonly Process process;
    readonly string profile = Directory.CreateTempSubdirectory("seeksharp-chromium-").FullName;

    public int DebuggingPort { get; }

    public Chromium()
    {
        var psi = new ProcessStartInfo(Executable ?? throw new InvalidOperationException("chromium is not installed"))
        {
            RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false,
        };
        foreach (var a in new[] { "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                     $"--user-data-dir={profile}", "--remote-debugging-port=0", "about:blank" })
            psi.ArgumentList.Add(a);
        process = Process.Start(psi)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        // Chromium writes the port it chose to DevToolsActivePort in the profile once DevTools listens.
        var file = Path.Combine(profile, "DevToolsActivePort");
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            if (process.HasExited) throw new InvalidOperationException($"chromium exited with code {process.ExitCode} at startup");
            if (File.Exists(file) && File.ReadAllLines(file) is [var port, ..] && int.TryParse(port, out var p)) { DebuggingPort = p; break; }
            if (deadline.Elapsed > TimeSpan.FromSeconds(30)) throw new TimeoutException("chromium did not open its DevTools port within 30 s");
            Thread.Sleep(50);
        }
    }

    public void Dispose()
    {
        try { if (!process.HasExited) { process.Kill(entireProcessTree: true); process.WaitForExit(5000); } }
        catch (InvalidOperationException) { }
        process.Dispose();
        try { Directory.Delete(profile, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}

/// <summary>A test that needs Chromium: skipped, saying why, only when no browser is installed (CI installs one).</summary>
public sealed class ChromiumFactAttribute : FactAttribute
{
    public ChromiumFactAttribute()
    {
        if (Chromium.Executable is null)
            Skip = "chromium is not installed (Debian: apt-get install chromium; .ci/run installs it; or set CHROMIUM=/path/to/chrome)";
    }
}
