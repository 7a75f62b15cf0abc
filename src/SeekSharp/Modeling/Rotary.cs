using static TorchSharp.torch;
using SeekSharp.Native;

namespace SeekSharp.Modeling;

// Rotary position embedding, rotate-half layout: the first and second halves of the head dimension
// form the (real, imaginary) pairs. Tables are built once per model for max_position_embeddings and
// live outside any dispose scope.

/// <summary>Precomputed cos/sin tables and the rotation.</summary>
public sealed class Rotary : IDisposable
{
    readonly Tensor cos, sin; // (maxT, dim/2) fp32

    public Rotary(int dim, int maxPositions, double theta)
    {
        using var scope = NewDisposeScope();
        // arange's bounds and the divisor as cached Scalars: implicit ones are temporaries a finalizer can free while the
        // native op reads them ("Unknown scalar type", Native/Scalars.cs). The values are the same ops' as before.
        var steps = arange(Scalars.Of(0L), Scalars.Of((long)dim), Scalars.Of(2L), dtype: ScalarType.Float64);
        var inv = 1.0 / pow(theta, steps / Scalars.Of((long)dim));
        var freqs = outer(arange(Scalars.Of((long)maxPositions), dtype: ScalarType.Float64), inv);
        cos = freqs.cos().to_type(ScalarType.Float32).DetachFromDisposeScope();
        sin = freqs.sin().to_type(ScalarType.Float32).DetachFromDisposeScope();
    }

    /// <summary>(maxT, dim/2) fp32 tables, for the fused decode path.</summary>
    internal Tensor Cos => cos;
    internal Tensor Sin => sin;

    public long MaxPositions => cos.shape[0];

    /// <summary>Rotates x (B, H, T, D) (H may be 1) at the given positions: a shared start or one per row.</summary>
    public Tensor Apply(Tensor x, Positions pos) => pos.Rows is null ? Apply(x, pos.Start) : Apply(x, pos.Rows);

    /// <summary>Rotates x (B, H, T, D) whose positions start at <paramref name="start"/>.</summary>
    public Tensor Apply(Tensor x, int start)
    {
        using var scope = NewDisposeScope();
        long t = x.shape[2];
        if (start + t > MaxPositions)
            throw new SeekSharpException($"sequence position {start + t} exceeds max_position_embeddings ({MaxPositions}).");
        var c = cos.narrow(0, start, t).to(x.device).to_type(x.dtype); // (T, D/2)
        var s = sin.narrow(0, start, t).to(x.device).to_type(x.dtype);
        return Rotate(x, c, s).MoveToOuterDisposeScope();
    }

    /// <summary>Rotates x (B, H, T, D) whose row b holds positions rows.Index[b].</summary>
    public Tensor Apply(Tensor x, RowPositions rows)
    {
        using var scope = NewDisposeScope();
        long b = x.shape[0], t = x.shape[2], half = x.shape[3] / 2;
        if (rows.KeyLength > MaxPositions)
            throw new SeekSharpException($"sequence position {rows.KeyLength} exceeds max_position_embeddings ({MaxPositions}).");
        var idx = rows.Index.flatten();
        var c = cos.to(x.device).index_select(0, idx).view(b, 1, t, half).to_type(x.dtype); // (B, 1, T, D/2)
        var s = sin.to(x.device).index_select(0, idx).view(b, 1, t, half).to_type(x.dtype);
        return Rotate(x, c, s).MoveToOuterDisposeScope();
    }

    /// <summary>Rotate-half with cos/sin tables that broadcast against x's (..., T, D/2).</summary>
    static Tensor Rotate(Tensor x, Tensor c, Tensor s)
    {
        long half = x.shape[3] / 2;
        var x1 = x.narrow(-1, 0, half);
        var x2 = x.narrow(-1, half, half);
        return cat([x1 * c - x2 * s, (x2 * c).add(x1 * s, Scalars.One)], -1);
    }

    public void Dispose() { cos.Dispose(); sin.Dispose(); }
}
