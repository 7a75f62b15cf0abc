// Design: where a data file came from, recorded beside it (FILE.origin.json) by whoever made it, since the text itself
// cannot say: SeekSharp writes "synthetic" beside what its task generators and samplers produce; a person declares
// "human-labelled" (or "collected") for their own files the same way. The ledger reads it when a run reads the file
// (LedgerData), so the data resource can say what share of the tokens was synthetic, curated or human-labelled. A file
// without one has an unknown origin, and shares that need it are unknown, never guessed.

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

    /// <summary>Records <paramref name="origin"/> beside <paramref name="dataPath"/>; <paramref name="note"/> says what made it.</summary>
    public static void Write(string dataPath, string origin, string note)
    {
        if (!All.Contains(origin)) throw new ArgumentException($"origin '{origin}' is not one of {string.Join(", ", All)}", nameof(origin));
        AtomicFile.WriteAllText(SidecarOf(dataPath), new JsonObject { ["origin"] = origin, ["note"] = note }.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
    }

    /// <summary>The recorded origin of <paramref name="dataPath"/>; null without a sidecar. A malformed one is an error naming it and the field.</summary>
    public static string? Read(string dataPath)
    {
        var path = SidecarOf(dataPath);
        if (!File.Exists(path)) return null;
        JsonNode? root;
        try { root = JsonNode.Parse(File.ReadAllText(path)); }
        catch (JsonException e) { throw new SeekSharpException($"{path}: invalid JSON ({e.Message})", e); }
        if (root is not JsonObject o || o["origin"] is not JsonValue v || !v.TryGetValue<string>(out var origin) || !All.Contains(origin))
            throw new SeekSharpException($"{path}: field 'origin': expected one of {string.Join(", ", All.Select(a => $"\"{a}\""))}");
        return origin;
    }

    /// <summary>The common origin of several files, or null when any is unknown or they differ.</summary>
    public static string? Common(IEnumerable<string> dataPaths)
    {
        var origins = dataPaths.Select(Read).Distinct().ToList();
        return origins.Count == 1 ? origins[0] : null;
    }
}
