using SeekSharp.Modeling;
using static TorchSharp.torch;

namespace SeekSharp.Distributed;

// What hub and workers exchange as "the weights": every fp32 tensor of the model's state (parameters, and the
// routers' correction biases, which auxiliary-loss-free balancing moves during the inner steps too), in ordinal name
// order, as one flat vector. Both sides build the same preset with the same vocabulary, so the order and the length
// are the same; the length is checked on every payload.

public static unsafe class WeightVector
{
    static List<(string Name, Tensor T)> Entries(Transformer model) =>
        model.state_dict().Where(kv => kv.Value.dtype == ScalarType.Float32).OrderBy(kv => kv.Key, StringComparer.Ordinal)
            .Select(kv => (kv.Key, kv.Value)).ToList();

    public static long Length(Transformer model) => Entries(model).Sum(e => e.T.numel());

    public static float[] Read(Transformer model)
    {
        var entries = Entries(model);
        var v = new float[entries.Sum(e => e.T.numel())];
        long pos = 0;
        using var _ = no_grad();
        foreach (var (_, t) in entries)
        {
            using var scope = NewDisposeScope();
            var c = t.detach().cpu().contiguous();
            long n = c.numel();
            new ReadOnlySpan<float>(Kernels.TensorPointer.Of<float>(c), checked((int)n)).CopyTo(v.AsSpan((int)pos));
            GC.KeepAlive(c);
            pos += n;
        }
        return v;
    }

    /// <summary>Writes <paramref name="v"/> into the model's tensors (in place, so an optimizer's views stay valid).</summary>
    public static void Write(Transformer model, ReadOnlySpan<float> v)
    {
        var entries = Entries(model);
        long total = entries.Sum(e => e.T.numel());
        if (v.Length != total) throw new SeekSharpException($"weights: {v.Length} values, the model has {total}.");
        long pos = 0;
        using var _ = no_grad();
        foreach (var (_, t) in entries)
        {
            long n = t.numel();
            var src = v.Slice((int)pos, (int)n);
            if (t.device_type == TorchSharp.DeviceType.CPU && t.is_contiguous())
            {
                src.CopyTo(new Span<float>(Kernels.TensorPointer.Of<float>(t), (int)n));
                GC.KeepAlive(t);
            }
            else
            {
                using var scope = NewDisposeScope();
                t.copy_(tensor(src.ToArray(), t.shape));
            }
            pos += n;
        }
    }
}
