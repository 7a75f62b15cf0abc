using System.Runtime.InteropServices;

namespace SeekSharp.Native;

// Why: libtorch frees and re-allocates its large activation buffers every training step. With glibc's
// defaults every allocation above the (dynamic, at most 32 MiB) mmap threshold is a fresh mmap, and each
// of its pages is faulted in and zeroed by the kernel again: measured here, allocating a 64 MiB tensor
// took ~115 ms by default and ~1.3 ms with the heap kept, and small-dense bf16 training went from
// ~2,300 to ~3,700 tokens/s. mallopt() cannot do this at run time (it caps M_MMAP_THRESHOLD at 32 MiB,
// below our buffers), but the GLIBC_TUNABLES environment variable can, and glibc reads it only at
// process start. So `seek` re-executes itself once, in place (execve keeps the PID, the terminal and
// signals), with the tunables set, unless the user set GLIBC_TUNABLES already or opted out with
// SEEKSHARP_MALLOC=system. The cost is a few hundred MiB of freed memory kept by the process.
// See docs/decisions/0003-malloc-tunables.md.

/// <summary>Starts the process over with glibc malloc tunables that keep freed memory.</summary>
public static class MallocTuning
{
    public const string Tunables = "glibc.malloc.mmap_threshold=4294967296:glibc.malloc.trim_threshold=17179869184";
    const string OptOut = "SEEKSHARP_MALLOC";

    /// <summary>True when this process runs with the tunables (set by us or by the user).</summary>
    public static bool Active => Environment.GetEnvironmentVariable("GLIBC_TUNABLES")?.Contains("glibc.malloc.") == true;

    /// <summary>
    /// Re-executes the current process with the tunables on Linux/glibc when they are not set. Returns
    /// only if no re-exec happened (other OS, already set, opted out, or execve failed).
    /// </summary>
    public static void ReexecIfNeeded(string[] args)
    {
        if (!OperatingSystem.IsLinux() || Environment.GetEnvironmentVariable("GLIBC_TUNABLES") is not null) return;
        if (Environment.GetEnvironmentVariable(OptOut) is "system") return;
        var exe = Environment.ProcessPath;
        if (exe is null) return;
        var argv = new List<string> { exe };
        // Under the `dotnet` muxer the entry assembly must be passed again; an apphost needs only the args.
        if (Path.GetFileNameWithoutExtension(exe) == "dotnet") argv.Add(Environment.GetCommandLineArgs()[0]);
        argv.AddRange(args);
        var env = Environment.GetEnvironmentVariables().Cast<System.Collections.DictionaryEntry>()
            .Select(e => $"{e.Key}={e.Value}").Append($"GLIBC_TUNABLES={Tunables}").ToList();
        Console.Out.Flush();
        Exec(exe, argv, env);
    }

    static void Exec(string path, List<string> argv, List<string> env)
    {
        var a = ToNullTerminated(argv);
        var e = ToNullTerminated(env);
        execve(path, a, e); // returns only on failure: carry on untuned
        foreach (var p in a.Concat(e)) if (p != IntPtr.Zero) Marshal.FreeCoTaskMem(p);
    }

    static IntPtr[] ToNullTerminated(List<string> xs) =>
        xs.Select(Marshal.StringToCoTaskMemUTF8).Append(IntPtr.Zero).ToArray();

    /// <summary>Hands freed heap pages back to the kernel (glibc's malloc_trim) after a one-off burst of temporaries, a
    /// model load or freeze: with the tunables above nothing is ever trimmed on its own, and a quantized model's load
    /// frees as much as it keeps (per-expert blocks fused into one buffer by Freeze). Steady-state buffers are not
    /// affected: they are live. The managed heap goes first: a load's read buffers are .NET arrays, which the GC keeps
    /// committed after they die (measured on `medium` q4_0: 40 MB of a 520 MB process) until an aggressive, compacting
    /// collection decommits them. glibc's part is a no-op off glibc.</summary>
    public static void ReturnFreedMemory()
    {
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        if (!OperatingSystem.IsLinux()) return;
        try { malloc_trim(0); }
        catch (EntryPointNotFoundException) { } // musl and other libcs have no malloc_trim
        catch (DllNotFoundException) { }
    }

    [DllImport("libc")]
    static extern int malloc_trim(nuint pad);

    [DllImport("libc", SetLastError = true)]
    static extern int execve([MarshalAs(UnmanagedType.LPUTF8Str)] string path, IntPtr[] argv, IntPtr[] envp);
}
