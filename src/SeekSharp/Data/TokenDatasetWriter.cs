namespace SeekSharp.Data;

/// <summary>
/// Writes tokenized documents, in the order given, into a <see cref="TokenDataset"/> folder: train and
/// val shards, then dataset.json. Shared by <c>seek data tokenize</c> and <c>seek data prepare</c>.
/// </summary>
/// <remarks>
/// A document's split is pinned by the caller or drawn from a stable hash of its index. The newest document
/// is held back until the next one arrives: if it turns out to be the last, it is the one moved to keep
/// both splits non-empty. dataset.json is removed first and written last, so a folder only opens as a
/// dataset once every shard in it is complete. onDocument(index, tokens, isVal) reports each document's
/// final split (per-source token counts).
/// </remarks>
public sealed class TokenDatasetWriter : IDisposable
{
    readonly string outDir, tokenizerHash;
    readonly int vocabSize, bosId, eosId;
    readonly double valFraction;
    readonly long shardTokens;
    readonly Action<long, int, bool>? onDocument;
    readonly SplitWriter train, val;
    (int[] Tokens, bool IsVal)? pending;
    long index;

    public TokenDatasetWriter(string outDir, int vocabSize, string tokenizerHash, int bosId, int eosId,
        double valFraction = 0.05, long shardTokens = 50_000_000, Action<string>? log = null, Action<long, int, bool>? onDocument = null)
    {
        if (vocabSize <= 0) throw new ArgumentOutOfRangeException(nameof(vocabSize), vocabSize, "The vocabulary size must be positive.");
        if ((uint)bosId >= (uint)vocabSize || (uint)eosId >= (uint)vocabSize)
            throw new ArgumentOutOfRangeException(nameof(bosId), $"bos id {bosId} and eos id {eosId} must be in [0, {vocabSize}).");
        if (!(valFraction >= 0 && valFraction < 1)) throw new ArgumentOutOfRangeException(nameof(valFraction), valFraction, "The validation fraction must be in [0, 1).");
        if (shardTokens <= 0) throw new ArgumentOutOfRangeException(nameof(shardTokens), shardTokens, "Shards must hold at least one token.");
        TokenShardFormat.CheckHash(tokenizerHash);
        (this.outDir, this.vocabSize, this.tokenizerHash, this.bosId, this.eosId) = (outDir, vocabSize, tokenizerHash, bosId, eosId);
        (this.valFraction, this.shardTokens, this.onDocument) = (valFraction, shardTokens, onDocument);
        Directory.CreateDirectory(outDir);
        File.Delete(Path.Combine(outDir, DatasetManifest.FileName));
        train = new SplitWriter(outDir, "train", vocabSize, tokenizerHash, shardTokens, log);
        val = new SplitWriter(outDir, "val", vocabSize, tokenizerHash, shardTokens, log);
    }

    /// <summary>Appends one document (bos … eos, see <see cref="DataTokenization.Frame"/>); <paramref name="pinnedVal"/>
    /// fixes its split, null draws it from the document's index.</summary>
    public void Add(int[] tokens, bool? pinnedVal = null)
    {
        if (pending is { } p) Append(p, index - 1);
        pending = (tokens, pinnedVal ?? (valFraction > 0 && UnitHash(index) < valFraction));
        index++;
    }

    void Append((int[] Tokens, bool IsVal) p, long i)
    {
        (p.IsVal ? val : train).Append(p.Tokens);
        onDocument?.Invoke(i, p.Tokens.Length, p.IsVal);
    }

    /// <summary>Writes the last document, the shards' tails and dataset.json (naming <paramref name="inputs"/>).</summary>
    public TokenizationReport Complete(IReadOnlyList<string> inputs, long bytesRead, double seconds)
    {
        if (pending is { } last)
        {
            var toVal = last.IsVal;
            if (index >= 2 && valFraction > 0)
            {
                if (val.Documents == 0) toVal = true;
                else if (train.Documents == 0) toVal = false;
            }
            Append((last.Tokens, toVal), index - 1);
            pending = null;
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
        return new TokenizationReport(index, trainEntry.Documents, valEntry.Documents, trainEntry.Tokens, valEntry.Tokens,
            trainEntry.Shards.Count, valEntry.Shards.Count, bytesRead, seconds);
    }

    public void Dispose()
    {
        train.Dispose();
        val.Dispose();
    }

    // SplitMix64 finalizer mapped to [0, 1): stable across runs, platforms and .NET versions.
    static double UnitHash(long index)
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
