using SeekSharp.Data;
using SeekSharp.Tokenization;

namespace SeekSharp.Distributed;

// `seek bench diloco` gives each worker its own data, as edge nodes have: the training split is cut into M contiguous
// ranges (documents stay whole only approximately: a cut may fall inside one, which costs one document per shard),
// each written as a token dataset of its own (same tokenizer hash, no validation split: validation is the hub's).

public static class DataShards
{
    public static IReadOnlyList<string> Split(string dataDir, int parts, string outRoot)
    {
        using var ds = TokenDataset.Open(dataDir);
        long per = ds.TrainTokens / parts;
        if (per < 1024) throw new SeekSharpException($"{dataDir}: {ds.TrainTokens} training tokens are too few for {parts} shards.");
        var dirs = new List<string>();
        var buffer = new int[1 << 16];
        for (int k = 0; k < parts; k++)
        {
            var dir = Path.Combine(outRoot, $"shard_{k}");
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
            using (var w = new TokenDatasetWriter(dir, ds.VocabSize, ds.TokenizerHash, ds.BosId, ds.EosId, valFraction: 0))
            {
                for (long pos = k * per, end = (k + 1) * per; pos < end; pos += buffer.Length)
                {
                    int n = (int)Math.Min(buffer.Length, end - pos);
                    var piece = new int[n];
                    ds.Train.Read(pos, piece);
                    w.Add(piece, pinnedVal: false);
                }
                w.Complete([dataDir], 0, 0);
            }
            BpeTokenizer.CopyFiles(dataDir, dir);
            dirs.Add(dir);
        }
        return dirs;
    }
}
