// Design: a run's bill. RunLedger is fed numbers (tokens, model FLOPs) by whatever runs, so the
// ledger stays independent of model and training code; it measures time and energy itself. All the
// pricing arithmetic lives in LedgerEntry.Compute, a pure function, so it is tested on fixed inputs.
// Entries are written as ledger.json next to a run's outputs; a recipe chaining stages reads them
// back and sums them (LedgerTotal) to report what the whole recipe cost.

using System.Diagnostics;
using System.Text.Json;
using SeekSharp.IO;

namespace SeekSharp.Ledger;

/// <summary>What one finished run cost.</summary>
public sealed record LedgerEntry
{
    /// <summary>What ran, e.g. "pretrain", "sft", "bench-train".</summary>
    public required string Kind { get; init; }
    /// <summary>When the run started (UTC).</summary>
    public required DateTime StartedUtc { get; init; }
    /// <summary>When the run finished (UTC).</summary>
    public required DateTime EndedUtc { get; init; }
    /// <summary>Wall-clock seconds.</summary>
    public required double WallSeconds { get; init; }
    /// <summary>Process CPU seconds, all threads.</summary>
    public required double CpuSeconds { get; init; }
    /// <summary>Tokens processed, as reported by the run.</summary>
    public required long Tokens { get; init; }
    /// <summary>Model FLOPs, as reported by the run (e.g. 6 * params * tokens for training).</summary>
    public required double ModelFlops { get; init; }
    /// <summary>Model FLOPs per wall second.</summary>
    public required double AchievedFlopsPerSecond { get; init; }
    /// <summary>Energy in kWh, PUE included.</summary>
    public required double EnergyKwh { get; init; }
    /// <summary>"rapl" (measured), "model" (estimated) or, for totals, "mixed".</summary>
    public required string EnergyMethod { get; init; }
    /// <summary>Grams of CO2: EnergyKwh * GramsCo2PerKwh.</summary>
    public required double Co2Grams { get; init; }
    /// <summary>US dollars: UsdPerHour * hours + UsdPerKwh * EnergyKwh.</summary>
    public required double Usd { get; init; }
    /// <summary>The profile that priced this run.</summary>
    public required HardwareProfile Hardware { get; init; }

    /// <summary>Prices a run from its raw measurements; pure, so the arithmetic is testable.</summary>
    public static LedgerEntry Compute(string kind, DateTime startedUtc, DateTime endedUtc, double wallSeconds,
        double cpuSeconds, long tokens, double modelFlops, double joules, string energyMethod, HardwareProfile hw)
    {
        var kwh = joules / 3.6e6;
        return new LedgerEntry
        {
            Kind = kind,
            StartedUtc = startedUtc,
            EndedUtc = endedUtc,
            WallSeconds = wallSeconds,
            CpuSeconds = cpuSeconds,
            Tokens = tokens,
            ModelFlops = modelFlops,
            AchievedFlopsPerSecond = wallSeconds > 0 ? modelFlops / wallSeconds : 0,
            EnergyKwh = kwh,
            EnergyMethod = energyMethod,
            Co2Grams = kwh * hw.GramsCo2PerKwh,
            Usd = hw.UsdPerHour * wallSeconds / 3600.0 + hw.UsdPerKwh * kwh,
            Hardware = hw,
        };
    }

    /// <summary>Writes the entry atomically as indented snake_case JSON (conventionally ledger.json).</summary>
    public void Write(string path) =>
        AtomicFile.WriteAllText(path, JsonSerializer.Serialize(this, HardwareProfile.Json) + "\n");

    /// <summary>Reads and validates an entry; throws <see cref="SeekSharpException"/> naming the file and field.</summary>
    public static LedgerEntry Read(string path)
    {
        var source = $"ledger '{path}'";
        var e = LedgerJson.Read<LedgerEntry>(path, source);
        e.Validate(source);
        return e;
    }

    internal void Validate(string source)
    {
        if (string.IsNullOrWhiteSpace(Kind)) throw LedgerJson.Bad(source, "kind", "a non-empty string");
        if (EnergyMethod is not (EnergyMeter.RaplMethod or EnergyMeter.ModelMethod or LedgerTotal.MixedMethod))
            throw LedgerJson.Bad(source, "energy_method", $"\"rapl\", \"model\" or \"mixed\", got \"{EnergyMethod}\"");
        if (EndedUtc < StartedUtc) throw LedgerJson.Bad(source, "ended_utc", "a time not before started_utc");
        if (Tokens < 0) throw LedgerJson.Bad(source, "tokens", $"an integer >= 0, got {Tokens}");
        LedgerJson.NonNegative(source, "wall_seconds", WallSeconds);
        LedgerJson.NonNegative(source, "cpu_seconds", CpuSeconds);
        LedgerJson.NonNegative(source, "model_flops", ModelFlops);
        LedgerJson.NonNegative(source, "achieved_flops_per_second", AchievedFlopsPerSecond);
        LedgerJson.NonNegative(source, "energy_kwh", EnergyKwh);
        LedgerJson.NonNegative(source, "co2_grams", Co2Grams);
        LedgerJson.NonNegative(source, "usd", Usd);
        Hardware.Validate($"{source}: field 'hardware'");
    }
}

/// <summary>Tracks one run: time, CPU time and energy from start to <see cref="Finish"/>, plus reported tokens and FLOPs.</summary>
public sealed class RunLedger : IDisposable
{
    private readonly string _kind;
    private readonly HardwareProfile _hw;
    private readonly DateTime _startedUtc = DateTime.UtcNow;
    private readonly Stopwatch _wall = Stopwatch.StartNew();
    private readonly EnergyMeter _meter;
    private readonly Lock _lock = new();
    private long _tokens;
    private double _flops;
    private LedgerEntry? _finished;
    private LedgerEntry? _before;

    private RunLedger(string kind, HardwareProfile hw, string raplRoot)
    {
        _kind = kind;
        _hw = hw;
        _meter = EnergyMeter.Start(hw, raplRoot);
    }

    /// <summary>Starts tracking a run of the given kind, priced by <paramref name="hw"/>.</summary>
    public static RunLedger Start(string runKind, HardwareProfile hw) => Start(runKind, hw, EnergyMeter.DefaultRaplRoot);

    /// <summary>As <see cref="Start(string, HardwareProfile)"/>, reading RAPL counters under <paramref name="raplRoot"/>.</summary>
    public static RunLedger Start(string runKind, HardwareProfile hw, string raplRoot)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(runKind);
        hw.Validate("hardware profile");
        return new RunLedger(runKind, hw, raplRoot);
    }

    /// <summary>Tracks the rest of a resumed run whose earlier part cost <paramref name="before"/> (as a checkpoint recorded
    /// it with <see cref="Snapshot"/>): the bill covers the whole run, from the first start, with no time counted twice (and
    /// none of the work a killed run did after its last checkpoint, which the resumed run does again).</summary>
    public static RunLedger Continue(string runKind, HardwareProfile hw, LedgerEntry? before)
    {
        var ledger = Start(runKind, hw);
        ledger._before = before;
        return ledger;
    }

    /// <summary>The bill so far, the clocks still running.</summary>
    public LedgerEntry Snapshot()
    {
        lock (_lock) return _finished ?? Price(_meter.Read());
    }

    /// <summary>The energy method in use ("rapl" or "model").</summary>
    public string EnergyMethod => _meter.Method;

    /// <summary>Adds processed tokens; thread-safe.</summary>
    public void AddTokens(long tokens)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(tokens);
        Interlocked.Add(ref _tokens, tokens);
    }

    /// <summary>Adds model FLOPs; thread-safe.</summary>
    public void AddFlops(double flops)
    {
        if (!double.IsFinite(flops) || flops < 0) throw new ArgumentOutOfRangeException(nameof(flops), flops, "FLOPs must be finite and >= 0");
        lock (_lock) _flops += flops;
    }

    /// <summary>Stops the clocks and prices the run; later calls return the same entry.</summary>
    public LedgerEntry Finish()
    {
        lock (_lock)
        {
            if (_finished is not null) return _finished;
            var energy = _meter.Stop();
            _wall.Stop();
            return _finished = Price(energy);
        }
    }

    private LedgerEntry Price(EnergyReading energy)
    {
        var b = _before;
        var method = b is null || b.EnergyMethod == energy.Method ? energy.Method : LedgerTotal.MixedMethod;
        return LedgerEntry.Compute(_kind, b?.StartedUtc ?? _startedUtc, _startedUtc + _wall.Elapsed, (b?.WallSeconds ?? 0) + energy.WallSeconds,
            (b?.CpuSeconds ?? 0) + energy.CpuSeconds, (b?.Tokens ?? 0) + Interlocked.Read(ref _tokens), (b?.ModelFlops ?? 0) + _flops,
            (b?.EnergyKwh ?? 0) * 3.6e6 + energy.Joules, method, _hw);
    }

    public void Dispose() => _meter.Dispose();
}
