// Design: the ledger turns measured time and energy into dollars and CO2, and every conversion
// factor lives here, in one small JSON file the user can edit, so a report can always say which
// assumptions priced it. The profile is embedded in each ledger entry for the same reason.
// Validation happens on load, naming the file and the snake_case field, because a silently wrong
// price or grid intensity would make every later report wrong without anyone noticing.

using System.Text.Json;
using System.Text.Json.Serialization;
using SeekSharp.IO;

namespace SeekSharp.Ledger;

/// <summary>The machine a run used and the factors that price its time and energy.</summary>
public sealed record HardwareProfile
{
    /// <summary>Human-readable name, shown in reports.</summary>
    public required string Name { get; init; }

    /// <summary>Logical cores the run may use; the power model's utilization is CPU time over wall time times this.</summary>
    public required int Cores { get; init; }

    /// <summary>Whole-package CPU power at idle, in watts (for a VM slice: its share of the host package).</summary>
    public required double CpuWattsIdle { get; init; }

    /// <summary>Whole-package CPU power with every core busy, in watts.</summary>
    public required double CpuWattsMax { get; init; }

    /// <summary>Memory/board power attributed to the run, in watts, drawn all the time.</summary>
    public double OtherWatts { get; init; } = 1.0;

    /// <summary>Power usage effectiveness: facility energy over IT energy; 1.0 for a machine in an office.</summary>
    public double Pue { get; init; } = 1.0;

    /// <summary>Rental price, or hardware cost amortized over its life, in US dollars per hour.</summary>
    public required double UsdPerHour { get; init; }

    /// <summary>Electricity price in US dollars per kWh; 0 when a rental price already includes power.</summary>
    public required double UsdPerKwh { get; init; }

    /// <summary>Grid carbon intensity in grams of CO2 per kWh.</summary>
    public required double GramsCo2PerKwh { get; init; }

    /// <summary>The accelerator one unit of this profile is (e.g. "NVIDIA H800 SXM5"); null for a CPU-only machine, whose
    /// unit is the machine. `usd_per_hour` and the watts are then per accelerator, its share of the host included.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? Accelerator { get; init; }

    /// <summary>Accelerator power at full load in watts (its board power); 0 for a CPU-only machine.</summary>
    public double AcceleratorWatts { get; init; }

    /// <summary>Dense matmul peak of one unit in FLOP/s, per number format; null where unknown or unsupported (A100 has no
    /// FP8). `seek cost estimate` and a measured MFU need the one of the precision they use, and name it when missing.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public double? PeakFlopsFp32 { get; init; }
    /// <inheritdoc cref="PeakFlopsFp32"/>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public double? PeakFlopsBf16 { get; init; }
    /// <inheritdoc cref="PeakFlopsFp32"/>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public double? PeakFlopsFp8 { get; init; }

    /// <summary>Person-hours a run of each kind ("pretrain", "sft", ...; "*" for any other) takes from people: declared, since no
    /// clock sees them; null: none declared (0 hours).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public Dictionary<string, double>? PeopleHours { get; init; }

    /// <summary>What an hour of a person costs, US dollars; 0 unless set.</summary>
    public double UsdPerPersonHour { get; init; }

    /// <summary>Storage price, US dollars per GB kept for a month (default: AWS S3 Standard's first tier, $0.023); a run is
    /// charged one month of what it kept.</summary>
    public double UsdPerGbMonth { get; init; } = 0.023;

    /// <summary>Network price, US dollars per GB sent (default: AWS data transfer out to the internet, first tier, $0.09).</summary>
    public double UsdPerGbEgress { get; init; } = 0.09;

    /// <summary>Water consumed per kWh, litres (a data centre's WUE, e.g. 1.8); null: not reported.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public double? LitersWaterPerKwh { get; init; }

    /// <summary>Where the figures come from (datasheets, price assumptions): a profile says why it says what it says.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? Sources { get; init; }

    /// <summary>The dense peak of one unit for <paramref name="precision"/> (fp32, bf16, fp8), or an error naming the field.</summary>
    public double PeakFlops(string precision, string source)
    {
        var (field, value) = precision switch
        {
            "fp32" => ("peak_flops_fp32", PeakFlopsFp32),
            "bf16" => ("peak_flops_bf16", PeakFlopsBf16),
            "fp8" => ("peak_flops_fp8", PeakFlopsFp8),
            _ => throw new SeekSharpException($"--precision: expected fp32, bf16 or fp8, got '{precision}'."),
        };
        return value ?? throw LedgerJson.Bad(source, field, $"the {precision} matmul peak in FLOP/s (a positive number) for this computation");
    }

    /// <summary>Watts one unit draws at full load: accelerator, host CPU share and the rest (before PUE).</summary>
    public double FullLoadWatts => AcceleratorWatts + CpuWattsMax + OtherWatts;

    /// <summary>Environment variable naming a profile file when no path is given.</summary>
    public const string EnvVar = "SEEKSHARP_HARDWARE";

    /// <summary>
    /// "This machine": a 2-vCPU slice of a cloud server. Assumptions, all editable in a profile file:
    /// CPU power follows the Cloud Carbon Footprint methodology's average per-vCPU coefficients
    /// (about 0.74 W idle and 3.5 W at full load per vCPU, roughly a 200 W server package shared by
    /// ~64 vCPUs), so 1.5 W idle and 7 W max for two; memory about 0.4 W per GB (same methodology)
    /// times ~8 GB gives 3 W; PUE 1.1, near the fleet averages large cloud providers publish; price
    /// $0.096/hour, the on-demand rate of a 2-vCPU general-purpose instance (e.g. AWS m6i.large,
    /// us-east-1), whose electricity is included, hence 0 $/kWh (no double counting); grid 475 g
    /// CO2/kWh, the IEA's world-average electricity carbon intensity (Global Energy &amp; CO2 Status
    /// Report 2019).
    /// </summary>
    public static HardwareProfile Default { get; } = new()
    {
        Name = "cloud-vm-2vcpu (default assumptions)",
        Cores = 2,
        CpuWattsIdle = 1.5,
        CpuWattsMax = 7.0,
        OtherWatts = 3.0,
        Pue = 1.1,
        UsdPerHour = 0.096,
        UsdPerKwh = 0.0,
        GramsCo2PerKwh = 475.0,
        // 2048^3 matmuls on this VM (Ledger/MatmulPeak): 130-140 GFLOP/s fp32, 350-400 bf16 on a host with AVX-512
        // BF16 (a host without AMX measured 160-167 in bf16 on 2026-12-07). What a measured MFU divides by.
        PeakFlopsFp32 = 1.35e11,
        PeakFlopsBf16 = 3.75e11,
        Sources = "Cloud Carbon Footprint per-vCPU power coefficients; AWS m6i.large on-demand price (us-east-1); IEA world-average grid intensity (2019); matmul peaks measured on this VM by seek bench train.",
    };

    /// <summary>Profiles shipped with SeekSharp, by the name `--hardware` accepts in place of a file: "cpu" (<see
    /// cref="Default"/>) and one GPU of an 8-GPU A100, H100 or H800 node (Ledger/Profiles/*.json, with their sources).</summary>
    public static IReadOnlyList<string> BuiltinNames { get; } = ["cpu", "a100", "h100", "h800"];

    /// <summary>The shipped profile called <paramref name="name"/>, or null for another name.</summary>
    public static HardwareProfile? Builtin(string name)
    {
        if (name == "cpu") return Default;
        if (!BuiltinNames.Contains(name)) return null;
        using var stream = typeof(HardwareProfile).Assembly.GetManifestResourceStream($"SeekSharp.profile.{name}.json")
            ?? throw new InvalidOperationException($"built-in hardware profile '{name}' is missing from the assembly");
        var hw = JsonSerializer.Deserialize<HardwareProfile>(stream, Json)!;
        hw.Validate($"built-in hardware profile '{name}'");
        return hw;
    }

    internal static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        // A typo such as "usd_per_hr" must not silently fall back to a default price.
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        RespectNullableAnnotations = true,
    };

    /// <summary>Loads and validates a profile; throws <see cref="SeekSharpException"/> naming the file and field.</summary>
    public static HardwareProfile Load(string path)
    {
        var source = $"hardware profile '{path}'";
        var hw = LedgerJson.Read<HardwareProfile>(path, source);
        hw.Validate(source);
        return hw;
    }

    /// <summary>Writes the profile atomically as indented snake_case JSON.</summary>
    public void Save(string path)
    {
        Validate($"hardware profile '{path}'");
        AtomicFile.WriteAllText(path, JsonSerializer.Serialize(this, Json) + "\n");
    }

    /// <summary>
    /// The explicit path (or built-in name: <see cref="BuiltinNames"/>) if given; else the file named by SEEKSHARP_HARDWARE; else
    /// ~/.config/seeksharp/hardware.json if it exists; else <see cref="Default"/>.
    /// </summary>
    public static HardwareProfile Resolve(string? path)
    {
        // A file wins over a built-in name, so a folder holding a file called "h100" still means that file.
        if (!string.IsNullOrWhiteSpace(path)) return !File.Exists(path) && Builtin(path) is { } shipped ? shipped : Load(path);
        var env = Environment.GetEnvironmentVariable(EnvVar);
        if (!string.IsNullOrWhiteSpace(env)) return Load(env);
        var user = UserProfilePath();
        return user is not null && File.Exists(user) ? Load(user) : Default;
    }

    /// <summary>~/.config/seeksharp/hardware.json, or null when there is no home folder.</summary>
    public static string? UserProfilePath()
    {
        var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        return string.IsNullOrEmpty(home) ? null : Path.Combine(home, ".config", "seeksharp", "hardware.json");
    }

    /// <summary>Throws naming <paramref name="source"/> and the first bad field.</summary>
    internal void Validate(string source)
    {
        if (string.IsNullOrWhiteSpace(Name)) throw Bad(source, "name", "a non-empty string");
        if (Cores < 1) throw Bad(source, "cores", $"an integer >= 1, got {Cores}");
        NonNegative(source, "cpu_watts_idle", CpuWattsIdle);
        NonNegative(source, "cpu_watts_max", CpuWattsMax);
        if (CpuWattsMax < CpuWattsIdle)
            throw Bad(source, "cpu_watts_max", $"a value >= cpu_watts_idle ({CpuWattsIdle}), got {CpuWattsMax}");
        NonNegative(source, "other_watts", OtherWatts);
        if (!double.IsFinite(Pue) || Pue < 1.0) throw Bad(source, "pue", $"a number >= 1.0, got {Pue}");
        NonNegative(source, "usd_per_hour", UsdPerHour);
        NonNegative(source, "usd_per_kwh", UsdPerKwh);
        NonNegative(source, "grams_co2_per_kwh", GramsCo2PerKwh);
        NonNegative(source, "accelerator_watts", AcceleratorWatts);
        NonNegative(source, "usd_per_person_hour", UsdPerPersonHour);
        NonNegative(source, "usd_per_gb_month", UsdPerGbMonth);
        NonNegative(source, "usd_per_gb_egress", UsdPerGbEgress);
        if (LitersWaterPerKwh is { } w) NonNegative(source, "liters_water_per_kwh", w);
        foreach (var (kind, hours) in PeopleHours ?? []) NonNegative(source, $"people_hours.{kind}", hours);
        Positive(source, "peak_flops_fp32", PeakFlopsFp32);
        Positive(source, "peak_flops_bf16", PeakFlopsBf16);
        Positive(source, "peak_flops_fp8", PeakFlopsFp8);
    }

    private static void Positive(string source, string field, double? v)
    {
        if (v is { } x && !(double.IsFinite(x) && x > 0)) throw Bad(source, field, $"a positive number of FLOP/s, got {x}");
    }

    private static void NonNegative(string source, string field, double v) => LedgerJson.NonNegative(source, field, v);

    private static SeekSharpException Bad(string source, string field, string expected) => LedgerJson.Bad(source, field, expected);
}
