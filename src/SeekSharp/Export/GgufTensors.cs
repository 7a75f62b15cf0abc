using SeekSharp.Modeling;
using static TorchSharp.torch;

namespace SeekSharp.Export;

/// <summary>Moves a model's tensors into a <see cref="GgufWriter"/> under llama.cpp's names: each of ours taken
/// exactly once (a tensor left over is a mapping bug, not something to drop silently), matrices in the requested
/// type, norms, the router and every other 1-D tensor in F32 as llama.cpp's converter keeps them.</summary>
internal sealed class GgufTensors
{
    readonly GgufWriter writer;
    readonly GgufWriter.TensorType matrixType;
    readonly Dictionary<string, Tensor> state;
    readonly HashSet<string> used = new(StringComparer.Ordinal);

    public GgufTensors(GgufWriter writer, Transformer model, GgufWriter.TensorType matrixType)
    {
        this.writer = writer;
        this.matrixType = matrixType;
        state = model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);
    }

    /// <summary>Our tensor called <paramref name="name"/>, marked as placed.</summary>
    public Tensor Take(string name)
    {
        if (!state.TryGetValue(name, out var t)) throw new InvalidOperationException($"model has no tensor '{name}'.");
        used.Add(name);
        return t;
    }

    /// <summary>Writes <paramref name="t"/> as llama.cpp's tensor <paramref name="name"/>; a matrix in the export's type.</summary>
    public void Put(string name, Tensor t, bool matrix)
    {
        using var host = t.detach().to_type(ScalarType.Float32).cpu().contiguous();
        var values = host.data<float>().ToArray();
        var type = matrix ? matrixType : GgufWriter.TensorType.F32;
        if (type == GgufWriter.TensorType.F16)
            foreach (var v in values)
                if (Math.Abs(v) > 65504f) throw new SeekSharpException($"tensor '{name}' holds {v}, beyond f16's range (±65504): export with --type f32.");
        writer.AddTensor(name, host.shape, type, type == GgufWriter.TensorType.F16 ? GgufWriter.F16Bytes(values) : GgufWriter.F32Bytes(values));
    }

    /// <summary>Experts e = 0..E-1 of one projection stacked as llama.cpp's (E, out, in) tensor.</summary>
    public Tensor Experts(string prefix, int count, string projection) =>
        stack(Enumerable.Range(0, count).Select(e => Take($"{prefix}mlp.experts.{e}.{projection}_proj.weight")).ToArray(), 0);

    /// <summary>Fails when a tensor of ours found no place in the file.</summary>
    public void CheckAllPlaced()
    {
        var left = state.Keys.Where(k => !used.Contains(k)).ToList();
        if (left.Count > 0) throw new InvalidOperationException($"GGUF export has no place for tensor '{left[0]}' (and {left.Count - 1} more).");
    }

    /// <summary>Our (gate, up, down) projections and llama.cpp's ffn_* names for them.</summary>
    public static readonly (string Ours, string Theirs)[] Projections = [("gate", "gate"), ("up", "up"), ("down", "down")];
}
