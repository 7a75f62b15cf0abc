using static TorchSharp.torch;

namespace SeekSharp.Native;

// Why: `t.isfinite().all().item<bool>()` outside a dispose scope leaves each intermediate tensor referenced only by the
// stack. Once TorchSharp has read an intermediate's native handle to call the next op, the JIT may treat the managed
// object as dead, and a garbage collection in that window lets its finalizer free the native tensor while libtorch is
// still reading it (the same hazard as the Scalars in Scalars.cs). Seen here as "tensor does not have a device" thrown
// from all() in ModelFiles.LoadWeights, which killed a `seek bench engine` run. Each step here is held in a `using`
// variable, so it lives until the check is done.

/// <summary>Finite checks whose temporaries outlive the ops that read them.</summary>
public static class Finite
{
    /// <summary>True when every element of <paramref name="t"/> is finite (no NaN, no infinity).</summary>
    public static bool All(Tensor t)
    {
        using var finite = t.isfinite();
        using var all = finite.all();
        return all.item<bool>();
    }
}
