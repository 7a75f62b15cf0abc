using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using SeekSharp.IO;

namespace SeekSharp.Recipes;

// A recipe reuses a stage folder that holds a finished model, so an interrupted run continues where it stopped.
// Reuse by folder alone is a trap: rerunning `seek recipe r1 --out r1 --pretrain-steps 1600` into a folder pretrained
// for 800 steps would silently report the old model under the new settings. Each finished stage therefore records
// the settings that made it (flattened to name -> JSON value, its parent stage's key among them, so a changed
// pretraining invalidates everything after it) and a rerun compares them before reusing. A mismatch is an error, not
// a restart: the finished folder may be an hour of training the user wants to keep, so the message names the folder
// and each setting that differs and leaves the choice (another --out, or delete the folder) to the user.
// Paths, the device and the hardware profile are not settings: moving a run to another machine or folder does not
// change what it computes. A folder made before settings were recorded is reused as it is, with a message.

/// <summary>The settings that made one stage of a recipe; saved as <see cref="FileName"/> in the stage's folder.</summary>
public sealed class StageSettings
{
    public const string FileName = "recipe_stage.json";

    public string Stage { get; }
    public IReadOnlyDictionary<string, string> Values { get; }

    StageSettings(string stage, SortedDictionary<string, string> values) { Stage = stage; Values = values; }

    /// <summary>Settings from named values (numbers, strings, booleans, records), flattened to name -> JSON text; a record
    /// contributes one entry per property ("name.property"). <paramref name="parent"/> is the key of the stage this one
    /// starts from, or a description of an outside model; null for a first stage.</summary>
    public static StageSettings Of(string stage, string? parent, params (string Name, object? Value)[] values)
    {
        var flat = new SortedDictionary<string, string>(StringComparer.Ordinal);
        if (parent is not null) flat["parent"] = JsonSerializer.Serialize(parent);
        foreach (var (name, value) in values)
            Flatten(name, JsonSerializer.SerializeToElement(value, value?.GetType() ?? typeof(object)), flat);
        return new StageSettings(stage, flat);
    }

    static void Flatten(string name, JsonElement e, SortedDictionary<string, string> into)
    {
        if (e.ValueKind == JsonValueKind.Object)
            foreach (var p in e.EnumerateObject()) Flatten($"{name}.{p.Name}", p.Value, into);
        else into[name] = e.GetRawText();
    }

    /// <summary>A digest of every value: equal settings, equal key; the next stage records it as its parent.</summary>
    public string Key
    {
        get
        {
            var text = string.Join("\n", Values.Select(kv => $"{kv.Key}={kv.Value}"));
            return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes($"{Stage}\n{text}")))[..16];
        }
    }

    /// <summary>"name: was X, now Y" for every setting that differs from <paramref name="now"/>.</summary>
    public IReadOnlyList<string> Differences(StageSettings now) =>
        Values.Keys.Union(now.Values.Keys).Order(StringComparer.Ordinal)
            .Where(k => Values.GetValueOrDefault(k) != now.Values.GetValueOrDefault(k))
            .Select(k => k == "parent"
                ? "it starts from a different model (the stage before it, or --base, changed)"
                : $"{k}: was {Values.GetValueOrDefault(k) ?? "(not set)"}, now {now.Values.GetValueOrDefault(k) ?? "(not set)"}")
            .ToList();

    /// <summary>Saves the settings as readable JSON: each value is written as the JSON it is ("steps": 55, "task": "arithmetic").</summary>
    public void Write(string path) => AtomicFile.Write(path, s =>
    {
        using var w = new Utf8JsonWriter(s, new JsonWriterOptions { Indented = true });
        w.WriteStartObject();
        w.WriteString("stage", Stage);
        w.WriteString("key", Key);
        w.WriteStartObject("settings");
        foreach (var (name, json) in Values)
        {
            w.WritePropertyName(name);
            w.WriteRawValue(json);
        }
        w.WriteEndObject();
        w.WriteEndObject();
    });

    /// <summary>The settings saved at <paramref name="path"/>, or null when there is no such file.</summary>
    public static StageSettings? Read(string path)
    {
        if (!File.Exists(path)) return null;
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(path));
            var root = doc.RootElement;
            var stage = root.GetProperty("stage").GetString() ?? throw new FormatException("\"stage\" is null");
            var values = new SortedDictionary<string, string>(StringComparer.Ordinal);
            foreach (var p in root.GetProperty("settings").EnumerateObject())
                values[p.Name] = p.Value.GetRawText();
            return new StageSettings(stage, values);
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new SeekSharpException($"{path}: not a recipe stage settings file (expected {{\"stage\": ..., \"settings\": {{name: value}}}}): {e.Message}", e);
        }
    }
}
