namespace SeekSharp.Data;

/// <summary>
/// A tokenized corpus folder: dataset.json plus train_NNN.bin / val_NNN.bin shards.
/// </summary>
/// <remarks>
/// Design: Open cross-checks every shard header against dataset.json (hash, vocabulary, count), so a
/// folder mixing shards from two runs or two tokenizers is refused before training starts rather
/// than silently training on the wrong ids.
/// </remarks>
public sealed class TokenDataset : IDisposable
{
    private TokenDataset(string directory, DatasetManifest manifest, TokenSplit train, TokenSplit val)
    {
        Directory = directory;
        Manifest = manifest;
        Train = train;
        Val = val;
    }

    public string Directory { get; }
    public DatasetManifest Manifest { get; }
    public TokenSplit Train { get; }
    public TokenSplit Val { get; }
    public long TrainTokens => Train.Count;
    public long ValTokens => Val.Count;
    public long TrainDocuments => Manifest.Train.Documents;
    public long ValDocuments => Manifest.Val.Documents;
    public int VocabSize => Manifest.VocabSize;
    public string TokenizerHash => Manifest.TokenizerHash;
    public int BosId => Manifest.BosId;
    public int EosId => Manifest.EosId;

    public TokenSplit Split(string name) => name switch
    {
        "train" => Train,
        "val" => Val,
        _ => throw new ArgumentException($"Unknown split '{name}'; expected 'train' or 'val'.", nameof(name)),
    };

    public static TokenDataset Open(string dir)
    {
        if (!System.IO.Directory.Exists(dir))
            throw new SeekSharpException($"{dir}: dataset folder not found.");
        var manifestPath = Path.Combine(dir, DatasetManifest.FileName);
        var manifest = DatasetManifest.Load(manifestPath);

        var opened = new List<TokenShard>();
        try
        {
            var train = new TokenSplit("train", OpenShards(dir, manifestPath, manifest, "train", manifest.Train, opened));
            var val = new TokenSplit("val", OpenShards(dir, manifestPath, manifest, "val", manifest.Val, opened));
            return new TokenDataset(dir, manifest, train, val);
        }
        catch
        {
            foreach (var s in opened) s.Dispose();
            throw;
        }
    }

    private static List<TokenShard> OpenShards(string dir, string manifestPath, DatasetManifest m, string split, SplitEntry entry, List<TokenShard> opened)
    {
        var shards = new List<TokenShard>();
        foreach (var e in entry.Shards)
        {
            var path = Path.Combine(dir, e.File);
            if (!File.Exists(path))
                throw new SeekSharpException($"{path}: {split} shard listed in {manifestPath} is missing.");
            var shard = TokenShard.Open(path);
            opened.Add(shard);
            shards.Add(shard);
            if (shard.TokenizerHash != m.TokenizerHash)
                throw new SeekSharpException($"{path}: shard was made with tokenizer {shard.TokenizerHash} but {manifestPath} says {m.TokenizerHash}.");
            if (shard.VocabSize != m.VocabSize)
                throw new SeekSharpException($"{path}: shard vocabulary size {shard.VocabSize} disagrees with {m.VocabSize} in {manifestPath}.");
            if (shard.Count != e.Tokens)
                throw new SeekSharpException($"{path}: shard holds {shard.Count} tokens but {manifestPath} lists {e.Tokens}.");
        }
        return shards;
    }

    public void Dispose()
    {
        Train.Dispose();
        Val.Dispose();
    }
}
