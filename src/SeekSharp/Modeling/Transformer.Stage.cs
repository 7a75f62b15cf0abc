using TorchSharp;
using static TorchSharp.torch;
using SeekSharp.Native;

namespace SeekSharp.Modeling;

// A pipeline stage is this same model with only some of its parts materialized: blocks [FirstLayer, EndLayer), the
// embedding on the first stage, the final norm and the head on the last. The Transformer is built uninitialized
// (untouched pages never become resident) and only the held parameters are written, while the generator still draws
// every other parameter's values into a temporary, so each stage's weights are exactly the whole model's from the same
// seed; then the parts not held are released. With tied embeddings the last stage holds a copy of the embedding
// matrix for its head (its gradient is summed with the first stage's before the update, so both copies stay equal).

/// <summary>The contiguous part of the model one pipeline stage holds.</summary>
/// <param name="Index">Stage number, 0-based.</param>
/// <param name="Count">Stages in the pipeline.</param>
/// <param name="FirstLayer">First block held.</param>
/// <param name="EndLayer">One past the last block held.</param>
public sealed record StageSpan(int Index, int Count, int FirstLayer, int EndLayer)
{
    public bool IsFirst => Index == 0;
    public bool IsLast => Index == Count - 1;
    public int Layers => EndLayer - FirstLayer;

    /// <summary>With expert parallelism, the range of routed experts held (range 0 on a stage); null: all of them.</summary>
    public ExpertSlice? Experts { get; init; }

    /// <summary>An expert process: it holds its range's routed experts of layers [FirstLayer, EndLayer) and nothing else.</summary>
    public bool ExpertsOnly { get; init; }

    /// <summary>True when the parameter or buffer <paramref name="name"/> (a state_dict key) belongs to this stage.</summary>
    public bool Holds(string name, bool tied)
    {
        int? expert = ExpertSlice.ExpertOf(name);
        if (ExpertsOnly && expert is null) return false;
        if (expert is int j && Experts is { } x && (j < x.First || j >= x.End)) return false;
        if (name.StartsWith("model.layers.", StringComparison.Ordinal))
        {
            var rest = name["model.layers.".Length..];
            int layer = int.Parse(rest[..rest.IndexOf('.')]);
            return layer >= FirstLayer && layer < EndLayer;
        }
        if (name == "model.embed_tokens.weight") return IsFirst || (IsLast && tied);
        if (name.StartsWith("model.norm.", StringComparison.Ordinal) || name.StartsWith("lm_head.", StringComparison.Ordinal)) return IsLast;
        return IsFirst;
    }

    /// <summary>True when this stage's copy of <paramref name="name"/> is the tied embedding seen from the last stage: its
    /// gradient is summed with the first stage's and counted once in the global norm (by the first stage).</summary>
    public bool IsTiedCopy(string name, bool tied) => tied && Count > 1 && IsLast && name == "model.embed_tokens.weight";

    public override string ToString() => ExpertsOnly ? $"stage {Index}: routed experts {Experts!.First}-{Experts.End - 1} of layers {FirstLayer}-{EndLayer - 1} (expert range {Experts.Range})"
        : $"stage {Index}: layers {FirstLayer}-{EndLayer - 1}{(IsFirst ? " + embedding" : "")}{(IsLast ? " + norm, head" : "")}";
}

/// <summary>Expert parallelism's cut: routed experts in <paramref name="Ranges"/> contiguous ranges of
/// <paramref name="Routed"/>/Ranges; this one is <paramref name="Range"/>.</summary>
public sealed record ExpertSlice(int Range, int Ranges, int Routed)
{
    public int First => Range * (Routed / Ranges);
    public int End => First + Routed / Ranges;

    /// <summary>The routed expert a state_dict key belongs to ("model.layers.3.mlp.experts.12.up_proj.weight" is 12), or null.</summary>
    public static int? ExpertOf(string name)
    {
        const string key = ".mlp.experts.";
        int at = name.IndexOf(key, StringComparison.Ordinal);
        if (at < 0 || !name.StartsWith("model.layers.", StringComparison.Ordinal)) return null;
        var rest = name[(at + key.Length)..];
        int dot = rest.IndexOf('.');
        return dot > 0 && int.TryParse(rest[..dot], out int e) ? e : null;
    }
}

public sealed partial class Transformer
{
    /// <summary>The part of the model <paramref name="span"/> names, initialized as the whole model from
    /// <paramref name="seed"/> would be; parameters outside it are empty and do not train.</summary>
    public static Transformer ForStage(ModelConfig config, long seed, StageSpan span)
    {
        if (config.NumNextnPredictLayers > 0) throw new SeekSharpException("--mtp-depth: pipeline stages train the main model only; use --mtp-depth 0.");
        var t = new Transformer(config, seed, initialize: false);
        bool tied = config.TieWordEmbeddings;
        t.InitWeights(config.InitializerRange, seed, name => span.Holds(name, tied));
        using var _ = no_grad();
        foreach (var (name, p) in t.named_parameters())
            if (!span.Holds(name, tied))
            {
                p.requires_grad_(false);
                using var none = empty(0, dtype: p.dtype);
                p.set_(none);
            }
        MallocTuning.ReturnFreedMemory();
        t.Stage = span;
        return t;
    }

    /// <summary>The span this model was built for (<see cref="ForStage"/>); null for a whole model.</summary>
    public StageSpan? Stage { get; private set; }

    /// <summary>The training forward of one stage, no cache.</summary>
    /// <param name="input">(B, T) token ids on the first stage, else the residual stream (B, T, D) fp32 the previous stage sent.</param>
    /// <returns>Logits (B, T, V) fp32 on the last stage, else the residual stream (B, T, D) for the next stage; and the
    /// balance loss summed over this stage's MoE layers (or null).</returns>
    public (Tensor Output, Tensor? AuxLoss) ForwardStage(Tensor input, StageSpan span)
    {
        using var scope = NewDisposeScope();
        var h = span.IsFirst ? model.Embed(input) : input;
        var layers = model.Layers;
        Tensor? aux = null;
        for (int i = span.FirstLayer; i < span.EndLayer; i++)
        {
            var (next, a) = layers[i].Forward(h, 0, rope, null);
            h = next;
            if (a is not null) aux = aux is null ? a : aux.add(a, Scalars.One);
        }
        var output = span.IsLast ? Head(model.Norm(h)) : h;
        return (output.MoveToOuterDisposeScope(), aux?.MoveToOuterDisposeScope());
    }
}
