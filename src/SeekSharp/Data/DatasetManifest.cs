using System.Text.Json;
using System.Text.Json.Serialization;
using SeekSharp.IO;

namespace SeekSharp.Data;

// Design: dataset.json is the commit point of a tokenization run (written last, atomically), and
// the record of what went into it. Plain records + System.Text.Json keep it readable and diffable;
// `required` makes a missing field a parse error rather than a silent zero.

public sealed record ShardEntry
{
    [JsonPropertyName("file")] public required string File { get; init; }
    [JsonPropertyName("tokens")] public required long Tokens { get; init; }
}

public sealed record SplitEntry
{
    [JsonPropertyName("documents")] public required long Documents { get; init; }
    [JsonPropertyName("tokens")] public required long Tokens { get; init; }
    [JsonPropertyName("shards")] public required List<ShardEntry> Shards { get; init; }
}

public sealed record DatasetManifest
{
    public const string FileName = "dataset.json";
    public const int CurrentVersion = 1;

    [JsonPropertyName("format_version")] public required int FormatVersion { get; init; }
    [JsonPropertyName("tokenizer_hash")] public required string TokenizerHash { get; init; }
    [JsonPropertyName("vocab_size")] public required int VocabSize { get; init; }
    [JsonPropertyName("bos_id")] public required int BosId { get; init; }
    [JsonPropertyName("eos_id")] public required int EosId { get; init; }
    [JsonPropertyName("train")] public required SplitEntry Train { get; init; }
    [JsonPropertyName("val")] public required SplitEntry Val { get; init; }
    [JsonPropertyName("val_fraction")] public double ValFraction { get; init; }
    [JsonPropertyName("shard_tokens")] public long ShardTokens { get; init; }
    [JsonPropertyName("inputs")] public List<string> Inputs { get; init; } = [];

    private static readonly JsonSerializerOptions Options = new()
    {
        WriteIndented = true,
        RespectNullableAnnotations = true,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Skip,
    };

    public void Save(string path) => AtomicFile.WriteAllText(path, JsonSerializer.Serialize(this, Options) + "\n");

    public static DatasetManifest Load(string path)
    {
        if (!System.IO.File.Exists(path))
            throw new SeekSharpException($"{path}: {FileName} not found; was the folder written by `seek data tokenize`?");
        DatasetManifest? m;
        try
        {
            m = JsonSerializer.Deserialize<DatasetManifest>(System.IO.File.ReadAllText(path), Options);
        }
        catch (JsonException e)
        {
            throw new SeekSharpException($"{path}: malformed {FileName}: {e.Message}", e);
        }
        if (m is null)
            throw new SeekSharpException($"{path}: malformed {FileName}: expected an object, found null.");
        m.Validate(path);
        return m;
    }

    private void Validate(string path)
    {
        if (FormatVersion != CurrentVersion)
            throw new SeekSharpException($"{path}: format_version {FormatVersion} is not supported; expected {CurrentVersion}.");
        if (VocabSize <= 0)
            throw new SeekSharpException($"{path}: vocab_size {VocabSize} must be positive.");
        if ((uint)BosId >= (uint)VocabSize || (uint)EosId >= (uint)VocabSize)
            throw new SeekSharpException($"{path}: bos_id {BosId} and eos_id {EosId} must be in [0, {VocabSize}).");
        foreach (var (name, split) in new[] { ("train", Train), ("val", Val) })
        {
            foreach (var s in split.Shards)
            {
                // Shard names are plain file names inside the folder; a path could escape it.
                if (s.File.Length == 0 || s.File != System.IO.Path.GetFileName(s.File) || s.File is "." or "..")
                    throw new SeekSharpException($"{path}: {name} shard '{s.File}' must be a plain file name inside the dataset folder.");
                if (s.Tokens < 0)
                    throw new SeekSharpException($"{path}: {name} shard '{s.File}' has negative token count {s.Tokens}.");
            }
            var sum = split.Shards.Sum(s => s.Tokens);
            if (sum != split.Tokens)
                throw new SeekSharpException($"{path}: {name} tokens is {split.Tokens} but its shards add up to {sum}.");
        }
    }
}
