using static TorchSharp.torch;
using SeekSharp.Native;

namespace SeekSharp.Modeling;

// Where the tokens of a (B, T) batch sit in their sequences. Training and single-sequence generation
// use one shared start for every row (an int converts implicitly, so those paths are unchanged). A
// serving batch mixes sequences of different lengths: each row then has its own start, rotary angles
// are gathered per row, keys and values are written at each row's own positions in a slot cache, and
// attention is masked to each row's own length. The index and mask tensors are built once per forward
// and shared by every layer.

/// <summary>Token positions of a (B, T) batch: one shared start, or one start per row.</summary>
public readonly record struct Positions(int Start, RowPositions? Rows = null)
{
    public static implicit operator Positions(int start) => new(start);

    /// <summary>Keys attended by a forward of <paramref name="t"/> new tokens (cached ones included).</summary>
    public int KeyLength(long t) => Rows?.KeyLength ?? Start + (int)t;
}

/// <summary>Per-row positions for batched decoding over a slot cache whose row b holds sequence b.</summary>
public sealed class RowPositions : IDisposable
{
    /// <param name="starts">Tokens already cached for each row (the position of its first new token).</param>
    /// <param name="t">New tokens per row in this forward.</param>
    public RowPositions(IReadOnlyList<int> starts, int t, Device? device = null)
    {
        if (starts.Count == 0) throw new ArgumentException("at least one row is needed.", nameof(starts));
        if (t < 1) throw new ArgumentOutOfRangeException(nameof(t), "at least one new token per row is needed.");
        Starts = starts.ToArray();
        Length = t;
        KeyLength = Starts.Max() + t;
        int b = Starts.Length;
        var pos = new long[b * t];
        var row = new long[b * t];
        for (int i = 0; i < b; i++)
            for (int j = 0; j < t; j++) { pos[i * t + j] = Starts[i] + j; row[i * t + j] = i; }
        using var scope = NewDisposeScope();
        Index = tensor(pos, [b, t], device: device).DetachFromDisposeScope();
        Rows = tensor(row, [b, t], device: device).DetachFromDisposeScope();
        // Query (b, t) sees key s when s <= its own position; keys past a row's length are stale slots.
        Mask = Scalars.Arange(0, KeyLength, device).view(1, 1, KeyLength).le(Index.unsqueeze(-1)).unsqueeze(1)
            .DetachFromDisposeScope();
    }

    public int[] Starts { get; }
    /// <summary>New tokens per row.</summary>
    public int Length { get; }
    /// <summary>Keys the longest row attends: max(start) + T.</summary>
    public int KeyLength { get; }
    /// <summary>(B, T) long: the position of every new token.</summary>
    public Tensor Index { get; }
    /// <summary>(B, T) long: the row of every new token (the first index of a cache write).</summary>
    public Tensor Rows { get; }
    /// <summary>(B, 1, T, KeyLength) bool, true = attend.</summary>
    public Tensor Mask { get; }

    public void Dispose() { Index.Dispose(); Rows.Dispose(); Mask.Dispose(); }
}
