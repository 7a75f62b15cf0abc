using System.Diagnostics;
using System.Runtime.InteropServices;

namespace SeekSharp.Native;

// Why: per-stage timings of a parallel pipeline taken with a wall clock count the time a thread waits for
// a core, so on a loaded machine (other builds, more threads than cores) they grow with the load, not
// with the work. The CPU time of the calling thread does not. Linux gives it through
// clock_gettime(CLOCK_THREAD_CPUTIME_ID) (a system call of well under a microsecond, fine per document,
// not per word); elsewhere this falls back to the wall clock and says so.

/// <summary>CPU time of the calling thread, in nanoseconds.</summary>
public static partial class ThreadCpuClock
{
    const int ClockThreadCpuTime = 3;   // CLOCK_THREAD_CPUTIME_ID

    /// <summary>True when <see cref="Now"/> is thread CPU time; false when it is the wall clock.</summary>
    public static bool IsCpuTime { get; } = OperatingSystem.IsLinux() && TryRead(out _);

    /// <summary>Nanoseconds of CPU time used by the calling thread (wall-clock nanoseconds where unsupported).</summary>
    public static long Now() => IsCpuTime && TryRead(out var ns) ? ns : (long)(Stopwatch.GetTimestamp() * (1e9 / Stopwatch.Frequency));

    static bool TryRead(out long ns)
    {
        ns = 0;
        try
        {
            if (clock_gettime(ClockThreadCpuTime, out var ts) != 0) return false;
            ns = ts.Seconds * 1_000_000_000L + ts.Nanoseconds;
            return true;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { return false; }
    }

    [StructLayout(LayoutKind.Sequential)]
    struct TimeSpec { public long Seconds, Nanoseconds; }

    [LibraryImport("libc", EntryPoint = "clock_gettime")]
    private static partial int clock_gettime(int clock, out TimeSpec ts);
}
