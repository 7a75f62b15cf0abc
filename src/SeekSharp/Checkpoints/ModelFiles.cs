using TorchSharp;
using SeekSharp.IO;
using SeekSharp.Modeling;
using static TorchSharp.torch;

namespace SeekSharp.Checkpoints;

// A model folder is what every stage hands to the next: config.json (Hugging Face DeepSeek-V3 keys)
// plus model.safetensors (Hugging Face tensor names), and the tokenizer files beside them. Weights are
// stored as the fp32 masters; loading checks every tensor by name, shape and dtype before copying, so
// a wrong or truncated file fails with its name instead of a native error halfway through.

/// <summary>Reads and writes a model as config.json + model.safetensors.</summary>
public static class ModelFiles
{
    public const string ConfigFile = "config.json";
    public const string WeightsFile = "model.safetensors";

    public static void Save(string dir, Transformer model, IReadOnlyDictionary<string, string>? metadata = null)
    {
        Directory.CreateDirectory(dir);
        var tensors = model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value);
        var meta = new Dictionary<string, string> { ["format"] = "pt", ["producer"] = "SeekSharp" };
        if (metadata is not null) foreach (var (k, v) in metadata) meta[k] = v;
        Safetensors.Save(Path.Combine(dir, WeightsFile), tensors, meta);
        AtomicFile.WriteAllText(Path.Combine(dir, ConfigFile), model.Config.ToJson());
    }

    /// <summary>Loads config and weights from <paramref name="dir"/> (a run folder or a checkpoint folder).</summary>
    public static Transformer Load(string dir, Device? device = null)
    {
        if (!Directory.Exists(dir)) throw new SeekSharpException($"{dir}: model folder not found.");
        var cfg = ModelConfig.Load(Path.Combine(dir, ConfigFile));
        var model = new Transformer(cfg);
        try
        {
            LoadWeights(model, Path.Combine(dir, WeightsFile));
            if (device is not null) model.to(device);
            return model;
        }
        catch { model.Dispose(); throw; }
    }

    public static void LoadWeights(Transformer model, string path)
    {
        if (!File.Exists(path)) throw new SeekSharpException($"{path}: weights not found (expected model.safetensors).");
        var loaded = Safetensors.Load(path);
        try
        {
            var target = model.state_dict();
            var missing = target.Keys.Where(k => !loaded.ContainsKey(k)).ToList();
            if (missing.Count > 0)
                throw new SeekSharpException($"{path}: missing {missing.Count} tensor(s) the config needs, e.g. '{missing[0]}'.");
            var extra = loaded.Keys.Where(k => !target.ContainsKey(k)).ToList();
            if (extra.Count > 0)
                throw new SeekSharpException($"{path}: unexpected tensor '{extra[0]}' for this config (is config.json from another model?).");
            using var _ = no_grad();
            foreach (var (name, dst) in target)
            {
                var src = loaded[name];
                if (!src.shape.SequenceEqual(dst.shape))
                    throw new SeekSharpException($"{path}: tensor '{name}' has shape [{string.Join(",", src.shape)}], expected [{string.Join(",", dst.shape)}].");
                if (!src.is_floating_point())
                    throw new SeekSharpException($"{path}: tensor '{name}' has dtype {src.dtype}, expected a floating-point type.");
                dst.copy_(src);
            }
        }
        finally { foreach (var t in loaded.Values) t.Dispose(); }
    }
}
