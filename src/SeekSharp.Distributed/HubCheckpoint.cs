using System.Text.Json;
using System.Text.Json.Serialization;
using SeekSharp.Checkpoints;
using SeekSharp.IO;
using SeekSharp.Ledger;
using SeekSharp.Modeling;
using static TorchSharp.torch;

namespace SeekSharp.Distributed;

// A hub checkpoint is RUN/checkpoints/round_NNNNNN/: a model folder (weights, config, tokenizer: `--model` takes it)
// plus outer.safetensors (the outer momentum and, with int8, the hub's error-feedback residual) and hub_state.json
// (round, settings, per-worker accounting, counters, the bill so far), written last. It is assembled under a
// temporary name and renamed into place, so a folder named round_* with hub_state.json is always whole; a hub killed
// mid-save resumes from the previous one.

/// <summary>Everything but the tensors that `seek hub --resume` needs.</summary>
public sealed record HubState
{
    [JsonPropertyName("run_id")] public required string RunId { get; init; }
    /// <summary>Rounds applied: the version of the weights in this checkpoint.</summary>
    [JsonPropertyName("round")] public required int Round { get; init; }
    [JsonPropertyName("settings")] public required HubSettings Settings { get; init; }
    [JsonPropertyName("outer_lr")] public double OuterLr { get; init; }
    [JsonPropertyName("outer_momentum")] public double OuterMomentum { get; init; }
    [JsonPropertyName("workers")] public Dictionary<string, WorkerAccount> Workers { get; init; } = [];
    [JsonPropertyName("rejected")] public Rejections Rejected { get; init; } = new();
    [JsonPropertyName("last_val_loss")] public double? LastValLoss { get; init; }
    [JsonPropertyName("elapsed_seconds")] public double ElapsedSeconds { get; init; }
    [JsonPropertyName("bytes_by_round")] public List<Dictionary<string, long[]>> BytesByRound { get; init; } = [];
    [JsonPropertyName("ledger")] public LedgerEntry? Ledger { get; init; }
}

public static class HubCheckpoint
{
    public const string StateFile = "hub_state.json", OuterFile = "outer.safetensors";
    public static readonly JsonSerializerOptions Json = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    public static string Folder(string runDir, int round) => Path.Combine(runDir, "checkpoints", $"round_{round:D6}");

    public static string Save(string runDir, Transformer model, string tokenizerDir, float[] momentum, float[]? residual, HubState state, int keep = 2)
    {
        var final = Folder(runDir, state.Round);
        var tmp = Path.Combine(runDir, "checkpoints", $".tmp-round_{state.Round:D6}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(tmp);
        try
        {
            ModelFiles.Save(tmp, model, tokenizerFrom: tokenizerDir);
            using (var scope = NewDisposeScope())
            {
                var tensors = new Dictionary<string, Tensor> { ["outer.momentum"] = tensor(momentum) };
                if (residual is not null) tensors["outer.residual"] = tensor(residual);
                Safetensors.Save(Path.Combine(tmp, OuterFile), tensors, new Dictionary<string, string> { ["round"] = state.Round.ToString() });
            }
            AtomicFile.WriteAllText(Path.Combine(tmp, StateFile), JsonSerializer.Serialize(state, Json));
            if (Directory.Exists(final)) Directory.Delete(final, recursive: true);
            Directory.Move(tmp, final);
        }
        catch
        {
            try { Directory.Delete(tmp, recursive: true); } catch (IOException) { }
            throw;
        }
        var root = Path.Combine(runDir, "checkpoints");
        foreach (var d in Directory.GetDirectories(root, ".tmp-round_*")) try { Directory.Delete(d, true); } catch (IOException) { }
        foreach (var d in Directory.GetDirectories(root, "round_*").OrderByDescending(d => d, StringComparer.Ordinal).Skip(keep))
            Directory.Delete(d, recursive: true);
        return final;
    }

    public static string? Latest(string runDir)
    {
        var root = Path.Combine(runDir, "checkpoints");
        if (!Directory.Exists(root)) return null;
        return Directory.GetDirectories(root, "round_*").Where(d => File.Exists(Path.Combine(d, StateFile)))
            .OrderBy(d => d, StringComparer.Ordinal).LastOrDefault();
    }

    /// <summary>Loads the weights into <paramref name="model"/> and returns the state and the outer tensors.</summary>
    public static (HubState State, float[] Momentum, float[]? Residual) Load(string folder, Transformer model)
    {
        var statePath = Path.Combine(folder, StateFile);
        HubState state;
        try { state = JsonSerializer.Deserialize<HubState>(File.ReadAllText(statePath), Json) ?? throw new SeekSharpException($"{statePath}: empty."); }
        catch (JsonException e) { throw new SeekSharpException($"{statePath}: malformed hub state: {e.Message}"); }
        ModelFiles.LoadWeights(model, folder);
        var tensors = Safetensors.Load(Path.Combine(folder, OuterFile));
        try
        {
            float[] Read(string name) => tensors.TryGetValue(name, out var t) ? t.data<float>().ToArray()
                : throw new SeekSharpException($"{Path.Combine(folder, OuterFile)}: tensor '{name}' missing.");
            var momentum = Read("outer.momentum");
            var residual = tensors.ContainsKey("outer.residual") ? Read("outer.residual") : null;
            return (state, momentum, residual);
        }
        finally { foreach (var t in tensors.Values) t.Dispose(); }
    }
}
