// Design: a run's bill. RunLedger is fed numbers (tokens, model FLOPs) by whatever runs, so the
// ledger stays independent of model and training code; it measures time and energy itself. All the
// pricing arithmetic lives in LedgerEntry.Compute, a pure function, so it is tested on fixed inputs.
// Entries are written as ledger.json next to a run's outputs; a recipe chaining stages reads them
// back and sums them (LedgerTotal) to report what the whole recipe cost. The storage section (what the
// run wrote to disk, LedgerStorage) is recorded by the writers themselves through RecordStorage.

using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Serialization;
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
    /// <summary>The bytes of every artifact the run wrote, by kind (RunLedger.RecordStorage); null in ledgers written
    /// before storage was kept, and for runs that write nothing into a folder.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public LedgerStorage? Storage { get; init; }
    /// <summary>Bytes that crossed the network (decentralized training: the hub's payloads, per worker); null for a run
    /// that used none.</summary>
    [JsonPropertyName("network")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public LedgerNetwork? Network { get; init; }

    /// <summary>The dataset the run read, per source (RunLedger.RecordData); null for a run that read none, or in older ledgers.</summary>
    [JsonPropertyName("data")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public LedgerData? Data { get; init; }

    /// <summary>What a server did per API key (`seek serve`); null for every other run.</summary>
    [JsonPropertyName("serving")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public LedgerServing? Serving { get; init; }

    /// <summary>Seconds an interactive command spent waiting for a person (<see cref="RunLedger.WaitForPerson{T}"/>): measured
    /// attended time, added to the declared person-hours. Null for a command that never waits on anyone.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public double? AttendedSeconds { get; init; }

    /// <summary>Person-hours declared for this run with `--people-hours` (<see cref="RunLedger.DeclarePeopleHours"/>); they
    /// replace the hardware profile's people_hours default for it. Null when none were declared.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public double? DeclaredPeopleHours { get; init; }

    /// <summary>RL rollouts not generated because a curriculum predicted their group all right or all wrong
    /// (`seek chat rl --curriculum`); null for runs without one.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public long? RolloutsSaved { get; init; }

    /// <summary>The ledger format: 2 since the eight resources (<see cref="LedgerResources"/>); absent (0) in older files, whose
    /// unknown resources then read as unknown rather than zero.</summary>
    public int LedgerVersion { get; init; }

    /// <summary>The eight resources, derived from the fields above each time the entry is written (never read back: a file
    /// cannot make them disagree with the entry).</summary>
    public IReadOnlyList<ResourceLine> Resources => LedgerResources.Of(this);

    /// <summary>Prices a run from its raw measurements; pure, so the arithmetic is testable.</summary>
    public static LedgerEntry Compute(string kind, DateTime startedUtc, DateTime endedUtc, double wallSeconds,
        double cpuSeconds, long tokens, double modelFlops, double joules, string energyMethod, HardwareProfile hw, LedgerStorage? storage = null)
    {
        var kwh = joules / 3.6e6;
        return new LedgerEntry
        {
            LedgerVersion = LedgerResources.CurrentVersion,
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
            Storage = storage,
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

    /// <summary>Adds files written after the ledger was (a report and its plots, a recipe's data) to the ledger file at
    /// <paramref name="ledgerPath"/>, paths relative to its folder, and rewrites it atomically; kept flags are checked
    /// anew. Paths that do not exist are skipped (a plot a run had no data for). Returns the updated entry.</summary>
    public static LedgerEntry RecordStorage(string ledgerPath, IEnumerable<(string Path, string Kind)> artifacts)
    {
        var entry = Read(ledgerPath);
        var root = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(ledgerPath))!;
        var added = artifacts.Where(a => LedgerStorage.SizeOf(a.Path) is not null).Select(a => LedgerStorage.Measure(root, a.Path, a.Kind));
        var all = LedgerStorage.Of([.. entry.Storage?.Artifacts ?? [], .. added], entry.Storage?.Sources);
        // A current ledger without storage had nothing on disk yet; an older one's peak stays unknown.
        long? peak = entry.Storage is null ? entry.LedgerVersion >= LedgerResources.CurrentVersion ? 0 : null : entry.Storage.PeakBytes;
        var updated = entry with { Storage = (peak is null ? all : all with { PeakBytes = peak }).Recheck(root) };
        updated.Write(ledgerPath);
        return updated;
    }

    internal void Validate(string source)
    {
        if (string.IsNullOrWhiteSpace(Kind)) throw LedgerJson.Bad(source, "kind", "a non-empty string");
        if (EnergyMethod is not (EnergyMeter.RaplMethod or EnergyMeter.ModelMethod or LedgerTotal.MixedMethod))
            throw LedgerJson.Bad(source, "energy_method", $"\"rapl\", \"model\" or \"mixed\", got \"{EnergyMethod}\"");
        if (EndedUtc < StartedUtc) throw LedgerJson.Bad(source, "ended_utc", "a time not before started_utc");
        if (Tokens < 0) throw LedgerJson.Bad(source, "tokens", $"an integer >= 0, got {Tokens}");
        if (AttendedSeconds is { } attended) LedgerJson.NonNegative(source, "attended_seconds", attended);
        if (DeclaredPeopleHours is { } people) LedgerJson.NonNegative(source, "declared_people_hours", people);
        if (AttendedSeconds > WallSeconds + 1e-6) throw LedgerJson.Bad(source, "attended_seconds", $"at most wall_seconds ({WallSeconds}), got {AttendedSeconds}");
        LedgerJson.NonNegative(source, "wall_seconds", WallSeconds);
        LedgerJson.NonNegative(source, "cpu_seconds", CpuSeconds);
        LedgerJson.NonNegative(source, "model_flops", ModelFlops);
        LedgerJson.NonNegative(source, "achieved_flops_per_second", AchievedFlopsPerSecond);
        LedgerJson.NonNegative(source, "energy_kwh", EnergyKwh);
        LedgerJson.NonNegative(source, "co2_grams", Co2Grams);
        LedgerJson.NonNegative(source, "usd", Usd);
        Hardware.Validate($"{source}: field 'hardware'");
        Storage?.Validate(source);
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
    private readonly string? _runDir;
    private readonly List<StorageArtifact> _storage = [];
    private readonly List<StorageArtifact> _sources = [];
    private LedgerData? _data;
    private double? _attended;
    private double? _declaredPeople;
    private long _peak;

    // The person-hours a command declared (`--people-hours`), waiting for the first ledger the command starts: one run's
    // work is counted once, also when a recipe or the quickstart starts a ledger per stage. An AsyncLocal, so concurrent
    // commands in one process (the test suite) never take each other's; the holder is shared by the command's child tasks.
    sealed class PendingPeople { public double? Hours; }
    static readonly AsyncLocal<PendingPeople?> pendingPeople = new();

    /// <summary>Declares the person-hours of the command now running: the first ledger it starts records them as
    /// <see cref="LedgerEntry.DeclaredPeopleHours"/>. Dispose when the command ends.</summary>
    public static IDisposable DeclarePeopleHours(double hours)
    {
        if (!double.IsFinite(hours) || hours < 0) throw new SeekSharpException($"--people-hours: expected a number of hours >= 0, got {hours}.");
        var previous = pendingPeople.Value;
        pendingPeople.Value = new PendingPeople { Hours = hours };
        return new Restore(previous);
    }

    sealed class Restore(PendingPeople? previous) : IDisposable
    {
        public void Dispose() => pendingPeople.Value = previous;
    }

    static double? TakeDeclaredPeople()
    {
        var p = pendingPeople.Value;
        if (p is null) return null;
        lock (p) { var h = p.Hours; p.Hours = null; return h; }
    }
    private long? _rolloutsSaved;

    private RunLedger(string kind, HardwareProfile hw, string raplRoot, string? runDir)
    {
        _kind = kind;
        _hw = hw;
        _runDir = runDir;
        _meter = EnergyMeter.Start(hw, raplRoot);
    }

    /// <summary>Starts tracking a run of the given kind, priced by <paramref name="hw"/>.</summary>
    /// <param name="raplRoot">Where the RAPL energy counters are read (null: the system's).</param>
    /// <param name="runDir">The folder the run writes into (where its ledger.json goes): <see cref="RecordStorage"/>
    /// records paths relative to it. Null for a run that records no storage.</param>
    public static RunLedger Start(string runKind, HardwareProfile hw, string? raplRoot = null, string? runDir = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(runKind);
        hw.Validate("hardware profile");
        return new RunLedger(runKind, hw, raplRoot ?? EnergyMeter.DefaultRaplRoot, runDir) { _declaredPeople = TakeDeclaredPeople() };
    }

    /// <summary>Tracks the rest of a resumed run whose earlier part cost <paramref name="before"/> (as a checkpoint recorded
    /// it with <see cref="Snapshot"/>): the bill covers the whole run, from the first start, with no time counted twice (and
    /// none of the work a killed run did after its last checkpoint, which the resumed run does again). Its storage entries
    /// are taken up too.</summary>
    /// <param name="runDir">As in <see cref="Start"/>.</param>
    /// <param name="resumedFrom">The checkpoint folder the run continues from. Its snapshot was taken before it was written,
    /// so its bytes are recorded here, as the uninterrupted run recorded them when it wrote it.</param>
    public static RunLedger Continue(string runKind, HardwareProfile hw, LedgerEntry? before, string? runDir = null, string? resumedFrom = null)
    {
        var ledger = Start(runKind, hw, runDir: runDir);
        ledger._before = before;
        ledger._data = before?.Data;
        ledger._attended = before?.AttendedSeconds;
        if (before?.DeclaredPeopleHours is { } earlier) ledger._declaredPeople = earlier + (ledger._declaredPeople ?? 0);   // each session's work adds up
        if (before?.Storage is { } s) { ledger._storage.AddRange(s.Artifacts); ledger._sources.AddRange(s.Sources ?? []); ledger._peak = s.PeakBytes ?? 0; }
        if (resumedFrom is not null) ledger.RecordStorage(resumedFrom, StorageKind.Checkpoint);
        return ledger;
    }

    /// <summary>Records a file or folder the run has just written: its bytes are read from disk now (a folder: all its
    /// files), its path kept relative to the run folder. Recording a path again replaces its entry (a file written over).
    /// Whether it is still there (kept) is checked whenever the bill is drawn up, so a pruned checkpoint counts as
    /// written, not kept. Thread-safe.</summary>
    /// <param name="path">Absolute, or relative to the working folder (as the writer named it).</param>
    /// <param name="kind">One of <see cref="StorageKind.All"/>.</param>
    /// <returns><paramref name="path"/>, so a call can wrap the writer that returns it.</returns>
    public string RecordStorage(string path, string kind)
    {
        var root = _runDir ?? throw new InvalidOperationException($"ledger '{_kind}' was started without a run folder; it cannot record storage");
        var artifact = LedgerStorage.Measure(root, path, kind);
        lock (_lock)
        {
            if (_finished is not null) throw new InvalidOperationException($"ledger '{_kind}' is finished; record storage before Finish");
            _storage.Add(artifact);
            // Writers record right after writing and before rotating old checkpoints out: the moment the most is on disk.
            _peak = Math.Max(_peak, LedgerStorage.OnDisk(root, _storage));
        }
        return path;
    }

    /// <summary>Records a file the run read and made its artifacts from (the source model's weights, for quantize, prune or
    /// export), so the ledger shows the saving (<see cref="LedgerStorage.SavingRatio"/>). Measured now; not counted as written.</summary>
    public string RecordSource(string path)
    {
        var root = _runDir ?? throw new InvalidOperationException($"ledger '{_kind}' was started without a run folder; it cannot record storage");
        var artifact = LedgerStorage.Measure(root, path, StorageKind.Weights);
        lock (_lock) _sources.Add(artifact);
        return path;
    }

    /// <summary>Records the dataset folder the run reads (its manifests' per-source counts: <see cref="LedgerData.Of"/>).</summary>
    public void RecordData(string dataDir) => RecordData(LedgerData.Of(dataDir));

    /// <summary>Records the data the run read or made.</summary>
    public void RecordData(LedgerData? data)
    {
        lock (_lock) _data = data;
    }

    /// <summary>Runs <paramref name="read"/>, a call that waits on a person (a line typed at a prompt), and counts the time it
    /// took as attended: a person was at the keyboard for it (the ledger's measured person-hours). Thread-safe.</summary>
    public T WaitForPerson<T>(Func<T> read)
    {
        var clock = Stopwatch.StartNew();
        try { return read(); }
        finally
        {
            lock (_lock) _attended = (_attended ?? 0) + clock.Elapsed.TotalSeconds;
        }
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

    /// <summary>Adds RL rollouts a curriculum saved (<see cref="LedgerEntry.RolloutsSaved"/>); thread-safe.</summary>
    public void AddRolloutsSaved(long rollouts)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rollouts);
        lock (_lock) _rolloutsSaved = (_rolloutsSaved ?? 0) + rollouts;
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
            (b?.EnergyKwh ?? 0) * 3.6e6 + energy.Joules, method, _hw,
            _runDir is null ? b?.Storage : (LedgerStorage.Of(_storage, _sources) with { PeakBytes = _peak }).Recheck(_runDir)) with
        {
            Data = _data, AttendedSeconds = _attended, DeclaredPeopleHours = _declaredPeople,
            RolloutsSaved = _rolloutsSaved is null && b?.RolloutsSaved is null ? null : (b?.RolloutsSaved ?? 0) + (_rolloutsSaved ?? 0),
        };
    }

    public void Dispose() => _meter.Dispose();
}
