using SeekSharp.Data;
using SeekSharp.Tokenization;

namespace SeekSharp.Distributed;

// `seek bench diloco` gives each worker its own data, as edge nodes have. Two ways to cut the training split into M
// shards, each written as a token dataset of its own (same tokenizer hash, no validation split: validation is the hub's):
// - interleaved (the default): blocks of 64K tokens (fewer for small splits) dealt round-robin, so each shard is a
//   sample of the whole mix, as the baseline's batches are. DiLoCo's main results are on such i.i.d. shards.
// - contiguous: M consecutive ranges. A split written source by source (spam-assassin, then sotu) then gives each
//   worker mostly one source: the non-i.i.d. case, harder for DiLoCo (the paper's section 3.2), kept for that study.
// A cut may fall inside a document, which costs one document per cut.

public static class DataShards
{
    public const string Interleaved = "interleaved", Contiguous = "contiguous";
    public static readonly string[] Kinds = [Interleaved, Contiguous];

    /// <summary>Tokens per dealt block of an interleaved split: 64K, or an eighth of a shard when that is less.</summary>
    public static long BlockTokens(long trainTokens, int parts) => Math.Max(256, Math.Min(1 << 16, trainTokens / parts / 8));

    /// <summary>The [start, end) token ranges of shard <paramref name="k"/> of <paramref name="parts"/>.</summary>
    public static IEnumerable<(long Start, long End)> Ranges(long trainTokens, int parts, int k, string kind)
    {
        long per = trainTokens / parts;
        if (kind == Contiguous) { yield return (k * per, (k + 1) * per); yield break; }
        if (kind != Interleaved) throw new SeekSharpException($"--shards: expected {string.Join(" or ", Kinds)}, got '{kind}'.");
        long block = BlockTokens(trainTokens, parts), blocks = parts * per / block;   // whole rounds of blocks only:
        for (long b = k; b < blocks - blocks % parts; b += parts) yield return (b * block, (b + 1) * block);   // equal shards
    }

    public static IReadOnlyList<string> Split(string dataDir, int parts, string outRoot, string kind = Interleaved)
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
                foreach (var (start, end) in Ranges(ds.TrainTokens, parts, k, kind))
                    for (long pos = start; pos < end; pos += buffer.Length)
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
