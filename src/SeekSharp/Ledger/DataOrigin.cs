// Design: where a data file came from, recorded beside it (FILE.origin.json) by whoever made it, since the text itself
// cannot say: SeekSharp writes "synthetic" beside what its task generators and samplers produce; a person declares
// "human-labelled" (or "collected") for their own files the same way. The ledger reads it when a run reads the file
// (LedgerData), so the data resource can say what share of the tokens was synthetic, curated or human-labelled. A file
// without one has an unknown origin, and shares that need it are unknown, never guessed. The same file may declare what
// the data cost to acquire (`acquisition_usd`: bought, licensed, paid to label), which the run reading it is billed.

using System.Text.Json;
using System.Text.Json.Nodes;
using SeekSharp.IO;

namespace SeekSharp.Ledger;

/// <summary>The origin of a data file: its sidecar FILE.origin.json.</summary>
public static class DataOrigin
{
    /// <summary>Made by a program: a synthetic task's generator, or a model's samples.</summary>
    public const string Synthetic = "synthetic";
    /// <summary>Written or labelled by people (declared by them).</summary>
    public const string HumanLabelled = "human-labelled";
    /// <summary>Text gathered as it was found (books, mail, web pages), neither generated nor labelled.</summary>
    public const string Collected = "collected";

    public static readonly IReadOnlyList<string> All = [Synthetic, HumanLabelled, Collected];

    public static string SidecarOf(string dataPath) => dataPath + ".origin.json";

    /// <summary>Records <paramref name="origin"/> beside <paramref name="dataPath"/>; <paramref name="note"/> says what made it,
    /// <paramref name="acquisitionUsd"/> what it cost to acquire, if that is declared.</summary>
    public static void Write(string dataPath, string origin, string note, double? acquisitionUsd = null)
    {
        if (!All.Contains(origin)) throw new ArgumentException($"origin '{origin}' is not one of {string.Join(", ", All)}", nameof(origin));
        var o = new JsonObject { ["origin"] = origin, ["note"] = note };
        if (acquisitionUsd is { } usd) o["acquisition_usd"] = usd;
        AtomicFile.WriteAllText(SidecarOf(dataPath), o.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
    }

    /// <summary>The recorded origin of <paramref name="dataPath"/>; null without a sidecar. A malformed one is an error naming it and the field.</summary>
    public static string? Read(string dataPath) => Parse(dataPath)?.Origin;

    /// <summary>The sidecar of <paramref name="dataPath"/>, its origin checked; null when there is none.</summary>
    static (string Origin, JsonObject Record)? Parse(string dataPath)
    {
        var path = SidecarOf(dataPath);
        if (!File.Exists(path)) return null;
        JsonNode? root;
        try { root = JsonNode.Parse(File.ReadAllText(path)); }
        catch (JsonException e) { throw new SeekSharpException($"{path}: invalid JSON ({e.Message})", e); }
        if (root is not JsonObject o || o["origin"] is not JsonValue v || !v.TryGetValue<string>(out var origin) || !All.Contains(origin))
            throw new SeekSharpException($"{path}: field 'origin': expected one of {string.Join(", ", All.Select(a => $"\"{a}\""))}");
        return (origin, o);
    }

    /// <summary>What acquiring <paramref name="dataPath"/> cost, in US dollars, as its sidecar declares it
    /// (`"acquisition_usd"`: bought, licensed or paid to label); null when it declares none. A value that is not a
    /// non-negative number is an error naming the file and the field.</summary>
    public static double? AcquisitionUsd(string dataPath)
    {
        if (Parse(dataPath)?.Record["acquisition_usd"] is not { } node) return null;
        if (node is not JsonValue v || !v.TryGetValue<double>(out var usd) || !(usd >= 0) || double.IsInfinity(usd))
            throw new SeekSharpException($"{SidecarOf(dataPath)}: field 'acquisition_usd': expected a non-negative number of US dollars");
        return usd;
    }

    /// <summary>The summed declared acquisition cost of several files; null when any declares none.</summary>
    public static double? AcquisitionUsd(IEnumerable<string> dataPaths)
    {
        double sum = 0;
        foreach (var p in dataPaths)
            if (AcquisitionUsd(p) is { } usd) sum += usd;
            else return null;
        return sum;
    }

    /// <summary>The common origin of several files, or null when any is unknown or they differ.</summary>
    public static string? Common(IEnumerable<string> dataPaths)
    {
        var origins = dataPaths.Select(Read).Distinct().ToList();
        return origins.Count == 1 ? origins[0] : null;
    }
}
