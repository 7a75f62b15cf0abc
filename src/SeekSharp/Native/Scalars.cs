using System.Collections.Concurrent;
using TorchSharp;

namespace SeekSharp.Native;

// Why: TorchSharp 0.107 turns a .NET number passed where an op takes a Scalar (`x.pow(2)`, `x + eps`,
// `x.masked_fill(m, -inf)`, `add_(g, alpha: a)`) into a native at::Scalar that only its finalizer frees, and
// nothing keeps that managed object alive while the native op reads it: once the op has fetched the handle,
// the JIT may treat the object as dead, and a garbage collection in that window lets the finalizer thread free
// the Scalar while libtorch is still reading it. Seen here 30 minutes into a GRPO round as
// "false INTERNAL ASSERT FAILED at c10/core/Scalar.h:279" thrown from pow inside RmsNorm (the freed Scalar's
// tag was garbage), which killed a `seek recipe r1` run. It is rare per call, but a training run makes
// millions of such calls. So code that runs every step or every layer passes a Scalar that outlives the call:
// constants (config values, 1, -inf) from this cache, kept for the life of the process (there are few
// distinct ones); values that change every step (learning rate, bias corrections) in a `using` variable.

/// <summary>Process-lifetime native Scalars for constants, so no op ever reads a finalized one.</summary>
public static class Scalars
{
    static readonly ConcurrentDictionary<double, Scalar> Doubles = new();
    static readonly ConcurrentDictionary<long, Scalar> Longs = new();

    /// <summary>A floating-point Scalar of <paramref name="value"/> (type promotion as for a Python float).</summary>
    public static Scalar Of(double value) => Doubles.GetOrAdd(value, static v => v.ToScalar());

    /// <summary>An integer Scalar of <paramref name="value"/> (keeps integer tensors integer).</summary>
    public static Scalar Of(long value) => Longs.GetOrAdd(value, static v => v.ToScalar());

    /// <summary>1, for <c>a.add(b, Scalars.One)</c>: TorchSharp's <c>a + b</c> (tensor or Scalar b) makes an implicit
    /// alpha of 1 for every call, which is exposed the same way (<c>a - b</c> takes no alpha).</summary>
    public static Scalar One { get; } = Of(1L);

    /// <summary>Samples of N(mean, std²) in fp32, like <c>torch.normal(mean, std, shape)</c>, whose TorchSharp 0.107 body is
    /// <c>randn(shape) * std + mean</c>: two implicit Scalars and a temporary, each finalizable while the next op reads it
    /// (seen as "Unknown scalar type" from Linear's constructor under a loaded test run). Here the temporary lives in a
    /// scope and the Scalars are cached.</summary>
    public static torch.Tensor Normal(double mean, double std, long[] shape, torch.Generator? generator = null)
    {
        using var scope = torch.NewDisposeScope();
        var t = torch.randn(shape, generator: generator);
        t.mul_(Of(std)).add_(Of(mean), One);
        GC.KeepAlive(generator);
        return t.MoveToOuterDisposeScope();
    }

    /// <summary>Uniform samples in [lo, hi) in fp32, like <c>rand(shape) * (hi - lo) + lo</c> without its implicit Scalars.</summary>
    public static torch.Tensor Uniform(double lo, double hi, long[] shape, torch.Generator? generator = null)
    {
        using var scope = torch.NewDisposeScope();
        var t = torch.rand(shape, generator: generator);
        t.mul_(Of(hi - lo)).add_(Of(lo), One);
        GC.KeepAlive(generator);
        return t.MoveToOuterDisposeScope();
    }

    /// <summary>The integers [start, stop) as int64, like <c>torch.arange(start, stop)</c>, whose long overloads make
    /// implicit Scalars for start, stop and step.</summary>
    public static torch.Tensor Arange(long start, long stop, torch.Device? device = null)
    {
        using Scalar from = start.ToScalar(), to = stop.ToScalar();
        return torch.arange(from, to, One, device: device);
    }
}
