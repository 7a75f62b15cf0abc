using SeekSharp.Compression;
using SeekSharp.Modeling;
using static TorchSharp.torch;

namespace SeekSharp.Export;

// Which tensor gets which type, for --type q8_0 / q4_0 (llama.cpp's converter rule, with one choice of ours):
// - Matrices (2-D, and the stacked 3-D experts and attn_k_b/attn_v_b, whose rows are their last dimension) in the
//   block type when the row length is a multiple of 32; any other row length falls back to F16, as
//   convert_hf_to_gguf.py does when a row cannot be blocked. attn_k_b is blocked along its own rows (nope values
//   of one latent dimension), after the transpose: that is how llama.cpp multiplies it.
// - The router (ffn_gate_inp), norms and every 1-D tensor stay F32 (the converter keeps FFN_GATE_INP in F32).
// - token_embd (and output when untied): Q8_0 in both q8_0 and q4_0 files. convert_hf_to_gguf.py --outtype q8_0
//   quantizes token_embd too; for q4_0 we keep the embedding (with tied weights, also the output head, the most
//   sensitive matrix at small vocabularies) at Q8_0, as llama-quantize keeps the head above the body's type.
// The blocks are BlockQuant's, the same bytes as llama.cpp's quantize_row_q8_0_ref / q4_0_ref.

/// <summary>Moves a model's tensors into a <see cref="GgufWriter"/> under llama.cpp's names: each of ours taken
/// exactly once (a tensor left over is a mapping bug, not something to drop silently), matrices in the requested
/// type, norms, the router and every other 1-D tensor in F32 as llama.cpp's converter keeps them.</summary>
internal sealed class GgufTensors
{
    readonly GgufWriter writer;
    readonly GgufWriter.TensorType matrixType, embeddingType;
    readonly Dictionary<string, Tensor> state;
    readonly HashSet<string> used = new(StringComparer.Ordinal);

    public GgufTensors(GgufWriter writer, Transformer model, GgufWriter.TensorType matrixType)
    {
        this.writer = writer;
        this.matrixType = matrixType;
        embeddingType = matrixType == GgufWriter.TensorType.Q4_0 ? GgufWriter.TensorType.Q8_0 : matrixType;
        state = model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);
        // The MTP modules (layers num_hidden_layers..) are left out on purpose: llama.cpp runs no MTP layer (decision 0021).
        for (int l = model.Config.NumHiddenLayers; l < model.Config.NumHiddenLayers + model.MtpDepth; l++)
            foreach (var name in state.Keys.Where(k => k.StartsWith($"model.layers.{l}.", StringComparison.Ordinal))) used.Add(name);
    }

    /// <summary>Our tensor called <paramref name="name"/>, marked as placed.</summary>
    public Tensor Take(string name)
    {
        if (!state.TryGetValue(name, out var t)) throw new InvalidOperationException($"model has no tensor '{name}'.");
        used.Add(name);
        return t;
    }

    /// <summary>The type a tensor of <paramref name="shape"/> is stored in (see the rule above).</summary>
    public GgufWriter.TensorType TypeOf(long[] shape, bool matrix, bool embedding = false)
    {
        if (!matrix || shape.Length < 2) return GgufWriter.TensorType.F32;
        var type = embedding ? embeddingType : matrixType;
        bool blocked = type is GgufWriter.TensorType.Q8_0 or GgufWriter.TensorType.Q4_0;
        return blocked && shape[^1] % BlockQuant.BlockSize != 0 ? GgufWriter.TensorType.F16 : type;
    }

    /// <summary>Writes <paramref name="t"/> as llama.cpp's tensor <paramref name="name"/>; a matrix in the export's type
    /// (<paramref name="embedding"/>: token_embd or output, see the rule above).</summary>
    public void Put(string name, Tensor t, bool matrix, bool embedding = false)
    {
        using var host = t.detach().to_type(ScalarType.Float32).cpu().contiguous();
        var type = TypeOf(host.shape, matrix, embedding);
        if (type is GgufWriter.TensorType.Q8_0 or GgufWriter.TensorType.Q4_0)
        {
            // Rows are the last dimension whatever the rank: blocks of a (E, out, in) stack are those of its (E·out, in) view.
            using var rows = host.view(-1, host.shape[^1]);
            using var blocks = BlockQuant.Encode(rows, type == GgufWriter.TensorType.Q8_0 ? BlockType.Q8_0 : BlockType.Q4_0);
            writer.AddTensor(name, host.shape, type, blocks.bytes.ToArray());
            return;
        }
        var values = host.data<float>().ToArray();
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
