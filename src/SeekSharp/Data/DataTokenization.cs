using System.Diagnostics;
using System.Runtime.ExceptionServices;

namespace SeekSharp.Data;

public sealed record TokenizationReport(
    long Documents, long TrainDocuments, long ValDocuments,
    long TrainTokens, long ValTokens, int TrainShards, int ValShards,
    long BytesRead, double Seconds);

/// <summary>
/// Turns text files into a <see cref="TokenDataset"/> folder (what <c>seek data tokenize</c> runs).
/// </summary>
/// <remarks>
/// Design: documents stream through in batches; each batch is encoded in parallel (tokenizers are the
/// bottleneck) and written in input order, so output is identical for any core count. A document's
/// split depends only on its index (a stable hash), never on timing. dataset.json is removed first and
/// written last: a folder only opens as a dataset once every shard in it is complete.
/// </remarks>
public static class DataTokenization
{
    private const int BatchDocuments = 256;
    private const long BatchChars = 8 << 20;

    public static TokenizationReport Run(
        IReadOnlyList<string> inputs, Func<string, int[]> encode, int vocabSize, string tokenizerHash,
        int bosId, int eosId, string outDir, double valFraction = 0.05, long shardTokens = 50_000_000,
        Action<string>? log = null, Action<long, int, bool>? onDocument = null)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(encode);
        if (vocabSize <= 0) throw new ArgumentOutOfRangeException(nameof(vocabSize), vocabSize, "The vocabulary size must be positive.");
        if ((uint)bosId >= (uint)vocabSize || (uint)eosId >= (uint)vocabSize)
            throw new ArgumentOutOfRangeException(nameof(bosId), $"bos id {bosId} and eos id {eosId} must be in [0, {vocabSize}).");
        if (!(valFraction >= 0 && valFraction < 1)) throw new ArgumentOutOfRangeException(nameof(valFraction), valFraction, "The validation fraction must be in [0, 1).");
        if (shardTokens <= 0) throw new ArgumentOutOfRangeException(nameof(shardTokens), shardTokens, "Shards must hold at least one token.");
        TokenShardFormat.CheckHash(tokenizerHash);

        var clock = Stopwatch.StartNew();
        var files = DocumentSource.ResolveFiles(inputs);
        log?.Invoke($"tokenizing {files.Count} file(s) into {outDir}");
        Directory.CreateDirectory(outDir);
        File.Delete(Path.Combine(outDir, DatasetManifest.FileName));

        using var train = new SplitWriter(outDir, "train", vocabSize, tokenizerHash, shardTokens, log);
        using var val = new SplitWriter(outDir, "val", vocabSize, tokenizerHash, shardTokens, log);
        long bytesRead = 0, index = 0;
        // The newest document is held back until we know whether it is the last one: it is the one
        // that may be moved to keep both splits non-empty.
        // onDocument(index, tokens, isVal) reports each document's fate (per-source token counts).
        (int[] Tokens, bool IsVal)? pending = null;

        void Append((int[] Tokens, bool IsVal) p, long i)
        {
            (p.IsVal ? val : train).Append(p.Tokens);
            onDocument?.Invoke(i, p.Tokens.Length, p.IsVal);
        }

        void Emit(int[] tokens, bool? pinned)
        {
            if (pending is { } p) Append(p, index - 1);
            pending = (tokens, pinned ?? (valFraction > 0 && UnitHash(index) < valFraction));
            index++;
        }

        var batch = new List<(string Text, string Source, bool? Val)>();
        long batchChars = 0;
        foreach (var file in files)
        {
            log?.Invoke($"reading {file}");
            foreach (var doc in DocumentSource.Read(file, n => bytesRead += n))
            {
                batch.Add(doc);
                batchChars += doc.Text.Length;
                if (batch.Count >= BatchDocuments || batchChars >= BatchChars)
                {
                    Flush();
                    batch.Clear();
                    batchChars = 0;
                }
            }
        }
        Flush();

        void Flush()
        {
            var encoded = EncodeBatch(batch, encode, vocabSize, bosId, eosId);
            for (var i = 0; i < encoded.Length; i++) Emit(encoded[i], batch[i].Val);
        }

        if (pending is { } last)
        {
            var toVal = last.IsVal;
            if (index >= 2 && valFraction > 0)
            {
                if (val.Documents == 0) toVal = true;
                else if (train.Documents == 0) toVal = false;
            }
            Append((last.Tokens, toVal), index - 1);
        }

        var trainEntry = train.Complete();
        var valEntry = val.Complete();
        new DatasetManifest
        {
            FormatVersion = DatasetManifest.CurrentVersion,
            TokenizerHash = tokenizerHash,
            VocabSize = vocabSize,
            BosId = bosId,
            EosId = eosId,
            Train = trainEntry,
            Val = valEntry,
            ValFraction = valFraction,
            ShardTokens = shardTokens,
            Inputs = [.. inputs.Select(Path.GetFullPath)],
        }.Save(Path.Combine(outDir, DatasetManifest.FileName));

        var report = new TokenizationReport(index, trainEntry.Documents, valEntry.Documents, trainEntry.Tokens, valEntry.Tokens,
            trainEntry.Shards.Count, valEntry.Shards.Count, bytesRead, clock.Elapsed.TotalSeconds);
        log?.Invoke($"done: {report.Documents} documents, train {report.TrainTokens} tokens in {report.TrainShards} shard(s), " +
                    $"val {report.ValTokens} tokens in {report.ValShards} shard(s), {report.BytesRead} bytes read in {report.Seconds:F1} s");
        return report;
    }

    private static int[][] EncodeBatch(List<(string Text, string Source, bool? Val)> batch, Func<string, int[]> encode, int vocabSize, int bosId, int eosId)
    {
        var results = new int[batch.Count][];
        try
        {
            Parallel.For(0, batch.Count, i =>
            {
                var (text, source, _) = batch[i];
                var ids = encode(text);
                var doc = new int[ids.Length + 2];
                doc[0] = bosId;
                ids.CopyTo(doc, 1);
                doc[^1] = eosId;
                foreach (var id in ids)
                {
                    if ((uint)id >= (uint)vocabSize)
                        throw new SeekSharpException($"{source}: the tokenizer produced id {id}, outside the vocabulary [0, {vocabSize}).");
                }
                results[i] = doc;
            });
        }
        catch (AggregateException e) when (e.InnerExceptions.Count > 0)
        {
            // Surface the tokenizer's own error (e.g. a SeekSharpException) rather than the wrapper.
            ExceptionDispatchInfo.Capture(e.InnerExceptions[0]).Throw();
        }
        return results;
    }

    // SplitMix64 finalizer mapped to [0, 1): stable across runs, platforms and .NET versions.
    private static double UnitHash(long index)
    {
        var z = (ulong)index + 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        z ^= z >> 31;
        return (z >> 11) * (1.0 / (1UL << 53));
    }

    /// <summary>Writes one split as a sequence of shards of at most shardTokens tokens each.</summary>
    private sealed class SplitWriter(string dir, string name, int vocabSize, string hash, long shardTokens, Action<string>? log) : IDisposable
    {
        private readonly List<ShardEntry> _shards = [];
        private TokenShardWriter? _current;

        public long Documents { get; private set; }
        public long Tokens { get; private set; }

        public void Append(int[] doc)
        {
            Documents++;
            ReadOnlySpan<int> rest = doc;
            // A document may straddle two shards: the split is read as one stream, so that is harmless.
            while (!rest.IsEmpty)
            {
                _current ??= new TokenShardWriter(Path.Combine(dir, $"{name}_{_shards.Count:D3}.bin"), vocabSize, hash);
                var n = (int)Math.Min(rest.Length, shardTokens - _current.Count);
                _current.Append(rest[..n]);
                Tokens += n;
                rest = rest[n..];
                if (_current.Count == shardTokens) Finish();
            }
        }

        public SplitEntry Complete()
        {
            if (_current is not null) Finish();
            return new SplitEntry { Documents = Documents, Tokens = Tokens, Shards = [.. _shards] };
        }

        private void Finish()
        {
            var w = _current!;
            w.Complete();
            _shards.Add(new ShardEntry { File = Path.GetFileName(w.Path), Tokens = w.Count });
            log?.Invoke($"wrote {w.Path} ({w.Count} tokens)");
            w.Dispose();
            _current = null;
        }

        public void Dispose() => _current?.Dispose();
    }
}
