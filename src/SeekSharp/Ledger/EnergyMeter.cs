// Design: energy is measured when the hardware lets us and estimated otherwise, and the reading
// always says which ("rapl" or "model") so a report never passes an estimate off as a measurement.
//
// Measured ("rapl"): Intel RAPL package counters, /sys/class/powercap/intel-rapl:N/energy_uj, summed
// over package domains (intel-rapl:N, not the nested intel-rapl:N:M core/dram sub-domains, which
// the package already contains). Each counter wraps at max_energy_range_uj; a delta with end < start
// is taken as one wrap (end + max - start). One wrap can take as little as minutes on a busy server,
// so a timer samples every SampleInterval and accumulates deltas; a whole run therefore never needs
// to fit inside one wrap period. RAPL counts the whole package (every process), so on a shared
// machine it over-attributes; it does not count memory/board, so OtherWatts is added:
//     joules = (rapl_joules + OtherWatts * wall_s) * Pue
// In containers and VMs the files are usually absent or root-only; then we fall back to the model.
//
// Estimated ("model"): a linear CPU power model driven by this process's CPU time
//     utilization = clamp(cpu_s / (wall_s * Cores), 0, 1)
//     watts       = CpuWattsIdle + (CpuWattsMax - CpuWattsIdle) * utilization + OtherWatts
//     joules      = watts * wall_s * Pue
// CPU time includes libtorch's worker threads, which are ordinary threads of this process.

using System.Diagnostics;
using System.Text.RegularExpressions;

namespace SeekSharp.Ledger;

/// <summary>Energy since a meter started, and how it was obtained.</summary>
/// <param name="Joules">Energy attributed to the run, PUE included.</param>
/// <param name="Method">"rapl" when measured from RAPL counters, "model" when estimated.</param>
/// <param name="WallSeconds">Wall-clock seconds since the meter started.</param>
/// <param name="CpuSeconds">Process CPU seconds (all threads) since the meter started.</param>
public sealed record EnergyReading(double Joules, string Method, double WallSeconds, double CpuSeconds);

/// <summary>Measures (RAPL) or estimates (CPU power model) the energy a run uses.</summary>
public sealed partial class EnergyMeter : IDisposable
{
    public const string RaplMethod = "rapl";
    public const string ModelMethod = "model";
    public const string DefaultRaplRoot = "/sys/class/powercap";

    /// <summary>How often RAPL counters are sampled so that no more than one wrap happens between samples.</summary>
    public static readonly TimeSpan SampleInterval = TimeSpan.FromSeconds(20);

    private readonly HardwareProfile _hw;
    private readonly Stopwatch _wall = Stopwatch.StartNew();
    private readonly TimeSpan _cpuStart = CpuTime();
    private readonly RaplDomain[]? _rapl;
    private readonly Timer? _timer;
    private readonly Lock _lock = new();
    private double _raplJoules;
    private bool _raplFailed;

    private EnergyMeter(HardwareProfile hw, RaplDomain[]? rapl)
    {
        _hw = hw;
        _rapl = rapl;
        if (rapl is not null)
            _timer = new Timer(_ => Sample(), null, SampleInterval, SampleInterval);
    }

    /// <summary>Starts metering now; uses RAPL under <paramref name="raplRoot"/> when every package counter is readable.</summary>
    public static EnergyMeter Start(HardwareProfile hw, string raplRoot = DefaultRaplRoot) =>
        new(hw, OpenRapl(raplRoot));

    /// <summary>The method this meter uses ("rapl" or "model"); "model" after a RAPL read failure mid-run.</summary>
    public string Method { get { lock (_lock) return _rapl is not null && !_raplFailed ? RaplMethod : ModelMethod; } }

    /// <summary>Energy since start; may be called repeatedly (a snapshot, not a reset).</summary>
    public EnergyReading Read()
    {
        Sample();
        var wall = _wall.Elapsed.TotalSeconds;
        var cpu = (CpuTime() - _cpuStart).TotalSeconds;
        lock (_lock)
        {
            if (_rapl is not null && !_raplFailed)
                return new EnergyReading((_raplJoules + _hw.OtherWatts * wall) * _hw.Pue, RaplMethod, wall, cpu);
        }
        return new EnergyReading(PowerModel.Joules(_hw, cpu, wall), ModelMethod, wall, cpu);
    }

    /// <summary>Final reading; stops the sampling timer.</summary>
    public EnergyReading Stop()
    {
        var r = Read();
        Dispose();
        return r;
    }

    public void Dispose() => _timer?.Dispose();

    private void Sample()
    {
        if (_rapl is null) return;
        lock (_lock)
        {
            if (_raplFailed) return;
            foreach (var d in _rapl)
            {
                var now = ReadCounter(d.EnergyFile);
                // A counter that became unreadable mid-run makes the sum meaningless: switch to the model.
                if (now is null) { _raplFailed = true; return; }
                _raplJoules += Rapl.DeltaMicrojoules(d.Last, now.Value, d.MaxRange) / 1e6;
                d.Last = now.Value;
            }
        }
    }

    private static TimeSpan CpuTime()
    {
        using var p = Process.GetCurrentProcess();
        return p.TotalProcessorTime;
    }

    private sealed class RaplDomain(string energyFile, long maxRange, long last)
    {
        public string EnergyFile { get; } = energyFile;
        public long MaxRange { get; } = maxRange;
        public long Last { get; set; } = last;
    }

    [GeneratedRegex(@"^intel-rapl:\d+$")]
    private static partial Regex PackageDomain();

    /// <summary>Package domains with readable counters, or null when there are none or any is unreadable.</summary>
    private static RaplDomain[]? OpenRapl(string root)
    {
        try
        {
            if (!Directory.Exists(root)) return null;
            var domains = new List<RaplDomain>();
            foreach (var dir in Directory.GetDirectories(root).Order(StringComparer.Ordinal))
            {
                if (!PackageDomain().IsMatch(Path.GetFileName(dir))) continue;
                var energy = Path.Combine(dir, "energy_uj");
                var start = ReadCounter(energy);
                var max = ReadCounter(Path.Combine(dir, "max_energy_range_uj"));
                if (start is null || max is null || max <= 0) return null;
                domains.Add(new RaplDomain(energy, max.Value, start.Value));
            }
            return domains.Count > 0 ? [.. domains] : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
    }

    private static long? ReadCounter(string file)
    {
        try { return long.TryParse(File.ReadAllText(file).Trim(), out var v) && v >= 0 ? v : null; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
    }
}

/// <summary>Pure RAPL counter arithmetic, separate so it can be tested on fake values.</summary>
public static class Rapl
{
    /// <summary>
    /// Microjoules between two readings of a counter that wraps at <paramref name="maxRangeUj"/>;
    /// a smaller end reading means the counter wrapped (once) in between.
    /// </summary>
    public static long DeltaMicrojoules(long startUj, long endUj, long maxRangeUj) =>
        endUj >= startUj ? endUj - startUj : maxRangeUj - startUj + endUj;
}

/// <summary>The linear CPU power model (see the header of this file).</summary>
public static class PowerModel
{
    /// <summary>Process CPU time over available core time, clamped to [0, 1].</summary>
    public static double Utilization(double cpuSeconds, double wallSeconds, int cores) =>
        wallSeconds <= 0 || cores <= 0 ? 0 : Math.Clamp(cpuSeconds / (wallSeconds * cores), 0, 1);

    /// <summary>Average watts at the wall (PUE included) for the given utilization.</summary>
    public static double Watts(HardwareProfile hw, double utilization) =>
        (hw.CpuWattsIdle + (hw.CpuWattsMax - hw.CpuWattsIdle) * Math.Clamp(utilization, 0, 1) + hw.OtherWatts) * hw.Pue;

    /// <summary>Estimated joules for a run that used <paramref name="cpuSeconds"/> over <paramref name="wallSeconds"/>.</summary>
    public static double Joules(HardwareProfile hw, double cpuSeconds, double wallSeconds) =>
        wallSeconds <= 0 ? 0 : Watts(hw, Utilization(cpuSeconds, wallSeconds, hw.Cores)) * wallSeconds;
}
