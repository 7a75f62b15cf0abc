namespace SeekSharp.Data;

/// <summary>
/// One split (train or val) seen as a single token sequence: its shards concatenated virtually.
/// </summary>
/// <remarks>
/// Design: documents are already delimited by bos/eos inside the stream, so shard boundaries carry
/// no meaning and a window may span two (or more) shards. A prefix-sum table maps a global index to
/// a shard with a binary search.
/// </remarks>
public sealed class TokenSplit : IDisposable
{
    private readonly TokenShard[] _shards;
    private readonly long[] _starts; // _starts[i] = global index of shard i's first token

    public TokenSplit(string name, IReadOnlyList<TokenShard> shards)
    {
        Name = name;
        _shards = [.. shards];
        _starts = new long[_shards.Length];
        long total = 0;
        for (var i = 0; i < _shards.Length; i++)
        {
            _starts[i] = total;
            total += _shards[i].Count;
        }
        Count = total;
    }

    public string Name { get; }
    public long Count { get; }
    public IReadOnlyList<TokenShard> Shards => _shards;

    public int this[long i]
    {
        get
        {
            if ((ulong)i >= (ulong)Count) throw new ArgumentOutOfRangeException(nameof(i), i, $"Token index outside the {Name} split [0, {Count}).");
            var s = ShardOf(i);
            return _shards[s][i - _starts[s]];
        }
    }

    /// <summary>Copies tokens [start, start + dest.Length) of the split, crossing shard boundaries as needed.</summary>
    public void Read(long start, Span<int> dest)
    {
        if (start < 0 || start > Count - dest.Length)
            throw new ArgumentOutOfRangeException(nameof(start), start, $"Reading {dest.Length} tokens from {start} is outside the {Name} split [0, {Count}).");
        if (dest.IsEmpty) return;
        var s = ShardOf(start);
        var offset = start - _starts[s];
        while (!dest.IsEmpty)
        {
            var shard = _shards[s];
            var n = (int)Math.Min(dest.Length, shard.Count - offset);
            shard.Read(offset, dest[..n]);
            dest = dest[n..];
            s++;
            offset = 0;
        }
    }

    // Last shard whose start is <= i, skipping empty shards (they share a start with their successor).
    private int ShardOf(long i)
    {
        var idx = Array.BinarySearch(_starts, i);
        if (idx < 0) idx = ~idx - 1;
        while (_shards[idx].Count == 0 || i - _starts[idx] >= _shards[idx].Count) idx++;
        return idx;
    }

    public void Dispose()
    {
        foreach (var s in _shards) s.Dispose();
    }
}
