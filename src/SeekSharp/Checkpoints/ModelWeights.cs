using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using SeekSharp.IO;
using static TorchSharp.torch;

namespace SeekSharp.Checkpoints;

// A model folder's weights are one model.safetensors, or, past a size limit, shards as Hugging Face writes them
// (huggingface_hub's split_torch_state_dict_into_shards, used by save_pretrained): model-00001-of-0000N.safetensors
// plus model.safetensors.index.json = {"metadata": {"total_size": <tensor bytes>}, "weight_map": {name: shard}}.
// Tensors go into shards in name order (ordinal, as our single file is written), a new shard starting when the next
// tensor would pass the limit; a tensor larger than the limit gets a shard of its own. The limit is decimal as in
// transformers' convert_file_size_to_int ("5GB" = 5·10^9, "5GiB" = 5·2^30); the default, 5GB, is save_pretrained's, so
// every model this project trains on a CPU stays one file unless --max-shard-size asks otherwise. decision 0027.
// Writing: every shard (each atomically), then the index, then the files of the other layout are removed. A reader
// takes the index when there is one: it is written only once all its shards are in place.

/// <summary>The weights of one model folder, in one file or in shards: every tensor's header entry and its file.</summary>
internal sealed class ModelWeights
{
    public const string IndexFile = "model.safetensors.index.json";

    /// <summary>Hugging Face's default max_shard_size for save_pretrained.</summary>
    public const long DefaultMaxShardBytes = 5_000_000_000;

    readonly Dictionary<string, SafetensorsFile> fileOf;

    /// <summary>What errors about the whole set name: model.safetensors, or the index.</summary>
    public string Path { get; }
    public List<SafetensorsEntry> Entries { get; }
    public IReadOnlyList<SafetensorsFile> Files { get; }

    ModelWeights(string path, IReadOnlyList<SafetensorsFile> files, Dictionary<string, SafetensorsFile> fileOf, List<SafetensorsEntry> entries)
    {
        Path = path; Files = files; this.fileOf = fileOf; Entries = entries;
    }

    public static ModelWeights Single(string path)
    {
        CheckedFile.Check(path, $"weights not found (expected {ModelFiles.WeightsFile} or {IndexFile}).");
        var file = Safetensors.ReadHeader(path);
        return new ModelWeights(path, [file], file.Entries.ToDictionary(e => e.Name, _ => file, StringComparer.Ordinal), file.Entries);
    }

    /// <summary>The folder's weights: the shards its index names when it has one, else model.safetensors.</summary>
    public static ModelWeights OfFolder(string dir)
    {
        var index = System.IO.Path.Combine(dir, IndexFile);
        return File.Exists(index) ? Sharded(dir, index) : Single(System.IO.Path.Combine(dir, ModelFiles.WeightsFile));
    }

    /// <summary>Whether <paramref name="dir"/> holds weights in either layout.</summary>
    public static bool Exist(string dir) =>
        File.Exists(System.IO.Path.Combine(dir, IndexFile)) || File.Exists(System.IO.Path.Combine(dir, ModelFiles.WeightsFile));

    static ModelWeights Sharded(string dir, string index)
    {
        // Not the 1 MiB config limit: DeepSeek-V3's index names ~91,000 tensors (~9 MB); the cap is the safetensors header's.
        var bytes = CheckedFile.ReadAllBytes(index, "shard index not found.", SafetensorsHeader.MaxHeaderBytes);
        JsonObject? map;
        try { map = (JsonNode.Parse(bytes) as JsonObject)?["weight_map"] as JsonObject; }
        catch (JsonException e) { throw new SeekSharpException($"{index}: malformed JSON: {e.Message}"); }
        if (map is null || map.Count == 0)
            throw new SeekSharpException($"{index}: field 'weight_map' is missing or empty; expected an object of tensor name -> shard file.");
        var shardOf = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (name, value) in map)
        {
            var shard = value is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;
            // A shard is a file beside the index: no folders, no way out of the model folder.
            if (string.IsNullOrEmpty(shard) || shard != System.IO.Path.GetFileName(shard) || !shard.EndsWith(".safetensors", StringComparison.Ordinal))
                throw new SeekSharpException($"{index}: weight_map entry '{name}' is {value?.ToJsonString() ?? "null"}; expected the name of a .safetensors file in the same folder.");
            shardOf[name] = shard;
        }
        var files = new List<SafetensorsFile>();
        var fileOf = new Dictionary<string, SafetensorsFile>(StringComparer.Ordinal);
        var entries = new List<SafetensorsEntry>();
        foreach (var shard in shardOf.Values.Distinct().Order(StringComparer.Ordinal))
        {
            var path = System.IO.Path.Combine(dir, shard);
            CheckedFile.Check(path, $"shard named in {IndexFile} not found.");
            var file = Safetensors.ReadHeader(path);
            files.Add(file);
            foreach (var e in file.Entries)
            {
                if (!shardOf.TryGetValue(e.Name, out var named) || named != shard)
                    throw new SeekSharpException($"{path}: holds tensor '{e.Name}', which {IndexFile}'s weight_map {(named is null ? "does not name" : $"places in {named}")}.");
                fileOf[e.Name] = file;
                entries.Add(e);
            }
        }
        foreach (var (name, shard) in shardOf)
            if (!fileOf.ContainsKey(name))
                throw new SeekSharpException($"{index}: weight_map names tensor '{name}' in {shard}, which does not hold it.");
        return new ModelWeights(index, files, fileOf, entries);
    }

    /// <summary>The file holding tensor <paramref name="name"/> (what a per-tensor error names).</summary>
    public string PathOf(string name) => fileOf.TryGetValue(name, out var f) ? f.Path : Path;

    /// <summary>Opens the files for reading tensors; dispose when done.</summary>
    public Reader Open() => new(this);

    public sealed class Reader(ModelWeights weights) : IDisposable
    {
        readonly Dictionary<string, FileStream> streams = new(StringComparer.Ordinal);

        public Tensor Read(SafetensorsEntry e)
        {
            var file = weights.fileOf[e.Name];
            if (!streams.TryGetValue(file.Path, out var fs)) streams[file.Path] = fs = Safetensors.OpenData(file.Path);
            return Safetensors.ReadTensor(fs, file, e);
        }

        public void Dispose() { foreach (var s in streams.Values) s.Dispose(); }
    }

    /// <summary>Shard name i (1-based) of n, as Hugging Face names them.</summary>
    public static string ShardName(int i, int n) => $"model-{i:D5}-of-{n:D5}.safetensors";

    /// <summary>Writes <paramref name="tensors"/> into <paramref name="dir"/>: one model.safetensors when their bytes are
    /// at most <paramref name="maxShardBytes"/>, else shards and the index; then removes the other layout's files.</summary>
    public static void Save(string dir, IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string> metadata,
        IReadOnlyDictionary<string, string>? dtypes, long maxShardBytes)
    {
        if (maxShardBytes <= 0) throw new ArgumentOutOfRangeException(nameof(maxShardBytes));
        var names = tensors.Keys.Order(StringComparer.Ordinal).ToList();
        long Bytes(string n) => tensors[n].numel() * tensors[n].element_size();
        long total = names.Sum(Bytes);
        var stale = Directory.GetFiles(dir, "model-*-of-*.safetensors").Select(System.IO.Path.GetFileName).ToHashSet(StringComparer.Ordinal);
        var index = System.IO.Path.Combine(dir, IndexFile);
        var single = System.IO.Path.Combine(dir, ModelFiles.WeightsFile);
        if (total <= maxShardBytes)
        {
            Safetensors.Save(single, tensors, metadata, dtypes);
            File.Delete(index);
            foreach (var s in stale) File.Delete(System.IO.Path.Combine(dir, s!));
            return;
        }
        var shards = new List<List<string>> { new() };
        long size = 0;
        foreach (var n in names)
        {
            long b = Bytes(n);
            if (shards[^1].Count > 0 && size + b > maxShardBytes) { shards.Add([]); size = 0; }
            shards[^1].Add(n);
            size += b;
        }
        var weightMap = new JsonObject();
        for (int i = 0; i < shards.Count; i++)
        {
            var shard = ShardName(i + 1, shards.Count);
            Safetensors.Save(System.IO.Path.Combine(dir, shard), shards[i].ToDictionary(n => n, n => tensors[n], StringComparer.Ordinal), metadata, dtypes);
            foreach (var n in shards[i]) weightMap[n] = shard;
            stale.Remove(shard);
        }
        var json = new JsonObject { ["metadata"] = new JsonObject { ["total_size"] = total }, ["weight_map"] = weightMap };
        AtomicFile.WriteAllText(index, json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        File.Delete(single);
        foreach (var s in stale) File.Delete(System.IO.Path.Combine(dir, s!));
    }

    /// <summary>A size like Hugging Face's max_shard_size: bytes, or a number with KB/MB/GB (powers of 1000) or
    /// KiB/MiB/GiB (powers of 1024).</summary>
    public static long ParseSize(string text, string flag)
    {
        var t = text.Trim();
        (string Suffix, long Unit)[] units = [("KIB", 1L << 10), ("MIB", 1L << 20), ("GIB", 1L << 30), ("KB", 1000), ("MB", 1_000_000), ("GB", 1_000_000_000)];
        long unit = 1;
        foreach (var (suffix, u) in units)
            if (t.EndsWith(suffix, StringComparison.OrdinalIgnoreCase)) { unit = u; t = t[..^suffix.Length].TrimEnd(); break; }
        if (!double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) || !(v >= 1.0 / unit) || v * unit > long.MaxValue / 2)
            throw new SeekSharpException($"{flag}: expected a size like 5GB, 500MB or 2GiB (bytes without a unit), found '{text}'.");
        return (long)(v * unit);
    }
}
