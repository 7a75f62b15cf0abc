// Design: a recipe chains stages (pretrain, SFT, RL...), each with its own ledger.json, possibly on
// different machines; the total keeps every stage entry (with its own hardware profile) next to the
// sums, so the report can show both the bill and what each line of it was priced with.

using System.Text.Json;
using System.Text.Json.Serialization;
using SeekSharp.IO;

namespace SeekSharp.Ledger;

/// <summary>The summed cost of several runs, e.g. the stages of a recipe.</summary>
public sealed record LedgerTotal
{
    /// <summary>Energy method of a total whose stages used different methods.</summary>
    public const string MixedMethod = "mixed";

    /// <summary>What the stages add up to, e.g. a recipe name.</summary>
    public required string Kind { get; init; }
    /// <summary>Earliest stage start (UTC).</summary>
    public required DateTime StartedUtc { get; init; }
    /// <summary>Latest stage end (UTC).</summary>
    public required DateTime EndedUtc { get; init; }
    /// <summary>Sum of stage wall seconds (gaps between stages are not billed).</summary>
    public required double WallSeconds { get; init; }
    /// <summary>Sum of stage CPU seconds.</summary>
    public required double CpuSeconds { get; init; }
    /// <summary>Sum of stage tokens.</summary>
    public required long Tokens { get; init; }
    /// <summary>Sum of stage model FLOPs.</summary>
    public required double ModelFlops { get; init; }
    /// <summary>Sum of stage energy, kWh.</summary>
    public required double EnergyKwh { get; init; }
    /// <summary>The stages' common method, or "mixed".</summary>
    public required string EnergyMethod { get; init; }
    /// <summary>Sum of stage CO2 grams.</summary>
    public required double Co2Grams { get; init; }
    /// <summary>Sum of stage US dollars.</summary>
    public required double Usd { get; init; }
    /// <summary>The stage entries, in the order given.</summary>
    public required IReadOnlyList<LedgerEntry> Stages { get; init; }
    /// <summary>Every stage's artifacts, paths prefixed with the stage's folder; null when no stage recorded storage.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public LedgerStorage? Storage { get; init; }

    /// <summary>Each stage's name, in the order of <see cref="Stages"/>; null when the total was made without names.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public IReadOnlyList<string>? StageNames { get; init; }
    /// <summary>The longest chain of stages each needing the one before (a recipe's); null when not known.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public CriticalPath? CriticalPath { get; init; }

    /// <summary>Sums the entries; each keeps its own pricing, so stages on different hardware add correctly.</summary>
    /// <param name="folders">Each stage's ledger folder relative to the total's ('/'-separated), prefixed to its storage
    /// paths; null: all in the total's folder.</param>
    public static LedgerTotal Sum(string kind, IReadOnlyList<LedgerEntry> stages, IReadOnlyList<string>? folders = null)
    {
        if (folders is not null && folders.Count != stages.Count) throw new ArgumentException("one folder per stage", nameof(folders));
        ArgumentException.ThrowIfNullOrWhiteSpace(kind);
        if (stages.Count == 0) throw new ArgumentException("need at least one stage", nameof(stages));
        var methods = stages.Select(s => s.EnergyMethod).Distinct().ToList();
        return new LedgerTotal
        {
            Kind = kind,
            StartedUtc = stages.Min(s => s.StartedUtc),
            EndedUtc = stages.Max(s => s.EndedUtc),
            WallSeconds = stages.Sum(s => s.WallSeconds),
            CpuSeconds = stages.Sum(s => s.CpuSeconds),
            Tokens = stages.Sum(s => s.Tokens),
            ModelFlops = stages.Sum(s => s.ModelFlops),
            EnergyKwh = stages.Sum(s => s.EnergyKwh),
            EnergyMethod = methods.Count == 1 ? methods[0] : MixedMethod,
            Co2Grams = stages.Sum(s => s.Co2Grams),
            Usd = stages.Sum(s => s.Usd),
            Stages = [.. stages],
            // The merged artifacts carry the stages' sequential peak too, so the total's storage says what its resource line says.
            Storage = stages.All(s => s.Storage is null) ? null
                : LedgerStorage.Merge(stages.Select((s, i) => (folders?[i] ?? "", s.Storage))) with { PeakBytes = LedgerTotalResources.SequentialPeakBytes(stages) },
        };
    }

    /// <summary>Reads several ledger.json files and sums them.</summary>
    public static LedgerTotal SumFiles(string kind, IEnumerable<string> ledgerPaths) =>
        Sum(kind, [.. ledgerPaths.Select(LedgerEntry.Read)]);

    /// <summary>The eight resources, summed over the stages (derived when written, never read back).</summary>
    public IReadOnlyList<ResourceLine> Resources => LedgerTotalResources.Of(this);

    /// <summary>Reads a total written by <see cref="Write"/>; errors name the file and field.</summary>
    public static LedgerTotal Read(string path)
    {
        var source = $"ledger '{path}'";
        var t = LedgerJson.Read<LedgerTotal>(path, source);
        if (t.Stages is null || t.Stages.Count == 0) throw LedgerJson.Bad(source, "stages", "at least one stage");
        for (int i = 0; i < t.Stages.Count; i++) t.Stages[i].Validate($"{source}: stages[{i}]");
        if (t.StageNames is { } names && names.Count != t.Stages.Count) throw LedgerJson.Bad(source, "stage_names", $"one name per stage ({t.Stages.Count}), got {names.Count}");
        if (t.CriticalPath is { } cp && !(cp.WallSeconds >= 0 && cp.WallSeconds <= t.WallSeconds * (1 + 1e-9) + 1e-9))
            throw LedgerJson.Bad(source, "critical_path.wall_seconds", $"a number from 0 to wall_seconds ({t.WallSeconds}), got {cp.WallSeconds}");
        return t;
    }

    /// <summary>Writes the total atomically as indented snake_case JSON.</summary>
    public void Write(string path) =>
        AtomicFile.WriteAllText(path, JsonSerializer.Serialize(this, HardwareProfile.Json) + "\n");
}

/// <summary>Shared reading and error wording for the ledger's JSON files.</summary>
internal static class LedgerJson
{
    /// <summary>Deserializes <typeparamref name="T"/>, turning I/O and JSON failures into messages naming the file.</summary>
    public static T Read<T>(string path, string source) where T : class
    {
        string text;
        try { text = File.ReadAllText(path); }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new SeekSharpException($"{source}: file not found", e);
        }
        try
        {
            return JsonSerializer.Deserialize<T>(text, HardwareProfile.Json)
                ?? throw new SeekSharpException($"{source}: expected a JSON object, got null");
        }
        catch (JsonException e)
        {
            throw new SeekSharpException($"{source}: invalid JSON at {e.Path ?? "$"}: {e.Message}", e);
        }
    }

    public static void NonNegative(string source, string field, double v)
    {
        if (!double.IsFinite(v) || v < 0) throw Bad(source, field, $"a finite number >= 0, got {v}");
    }

    public static SeekSharpException Bad(string source, string field, string expected) =>
        new($"{source}: field '{field}': expected {expected}");
}
