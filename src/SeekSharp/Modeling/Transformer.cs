using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using SeekSharp.Native;
using SeekSharp.Kernels;

namespace SeekSharp.Modeling;

// The decoder, shaped like Hugging Face's DeepseekV3ForCausalLM so parameter names match theirs:
// model.embed_tokens, model.layers.N.*, model.norm, lm_head (absent when embeddings are tied).
// Single-device and training-agnostic: it maps tokens to logits, optionally through a KV cache.

/// <summary>Embeddings, blocks and final norm (Hugging Face's "model.").</summary>
public sealed class DecoderStack : nn.Module
{
    readonly Embedding embed_tokens;
    readonly ModuleList<Block> layers;
    readonly RmsNorm norm;
    readonly int main; // the main model's layers; those after are the MTP modules (Block.Mtp.cs)

    public DecoderStack(ModelConfig cfg) : base("model")
    {
        main = cfg.NumHiddenLayers;
        embed_tokens = nn.Embedding(cfg.VocabSize, cfg.HiddenSize);
        layers = new ModuleList<Block>(Enumerable.Range(0, cfg.NumHiddenLayers + cfg.NumNextnPredictLayers).Select(i => new Block(cfg, i)).ToArray());
        norm = new RmsNorm(cfg.HiddenSize, cfg.RmsNormEps);
        RegisterComponents();
    }

    /// <summary>(V, D) token embeddings, also the output head when tied.</summary>
    public Parameter EmbedWeight => embed_tokens.weight!;

    /// <summary>The main model's blocks.</summary>
    public IReadOnlyList<Block> Layers => layers.Take(main).ToList();

    /// <summary>The MTP modules, depth 1 first (empty without multi-token prediction).</summary>
    public IReadOnlyList<Block> MtpLayers => layers.Skip(main).ToList();

    /// <summary>Embeddings (B, T, D) of <paramref name="ids"/> (B, T).</summary>
    public Tensor Embed(Tensor ids) => EmbedWeight.index_select(0, ids.flatten()).view(ids.shape[0], ids.shape[1], -1);

    /// <summary>Set by <see cref="Transformer.Freeze"/> when every block can run the fused decode path (Block.Fused.cs).</summary>
    internal bool Fused { get; set; }

    /// <summary>The fused path runs this forward: frozen bf16 blocks, no gradient, the CPU kernels, a bf16 cache, and at
    /// most Bf16Gemm.MaxRows tokens (a decode step, or a short prompt's prefill).</summary>
    bool FusesFor(Tensor ids, KvCache cache) =>
        Fused && Bf16Gemm.Available && !is_grad_enabled() && ids.numel() <= Bf16Gemm.MaxRows
        && ids.device_type == DeviceType.CPU && cache.Layers[0].A.dtype == ScalarType.BFloat16;

    /// <param name="ids">(B, T) token ids.</param>
    /// <returns>Final hidden states (B, T, D) fp32 and the summed balance loss (or null).</returns>
    public (Tensor H, Tensor? AuxLoss) Forward(Tensor ids, Positions pos, Rotary rope, KvCache? cache)
    {
        using var scope = NewDisposeScope();
        var (h, aux) = Residual(ids, pos, rope, cache);
        return (norm.forward(h).MoveToOuterDisposeScope(), aux?.MoveToOuterDisposeScope());
    }

    /// <returns>The last block's residual stream (B, T, D) fp32, before the final norm (what MTP module 1 reads), and
    /// the summed balance loss (or null).</returns>
    public (Tensor H, Tensor? AuxLoss) Residual(Tensor ids, Positions pos, Rotary rope, KvCache? cache)
    {
        using var scope = NewDisposeScope();
        cache?.Prepare(pos, ids.shape[1]);
        var h = Embed(ids);
        if (cache is not null && FusesFor(ids, cache))
        {
            var rows = new FusedRows(ids.shape[0], ids.shape[1], pos);
            if (rows.MaxPos >= rope.MaxPositions || rows.MaxPos >= cache.MaxLength)
                throw new SeekSharpException($"sequence position {rows.MaxPos + 1} exceeds max_position_embeddings ({Math.Min(rope.MaxPositions, cache.MaxLength)}).");
            for (int i = 0; i < main; i++) h = layers[i].ForwardFused(h, rows, rope, cache.Layers[i]);
            return (h.MoveToOuterDisposeScope(), null);
        }
        Tensor? aux = null;
        for (int i = 0; i < main; i++)
        {
            var (next, a) = layers[i].Forward(h, pos, rope, cache?.Layers[i]);
            h = next;
            if (a is not null) aux = aux is null ? a : aux.add(a, Scalars.One);
        }
        return (h.MoveToOuterDisposeScope(), aux?.MoveToOuterDisposeScope());
    }

    /// <summary>The final norm of the main model.</summary>
    public Tensor Norm(Tensor h) => norm.forward(h);
}

/// <summary>A DeepSeek-V3-style causal language model.</summary>
public sealed partial class Transformer : nn.Module
{
    readonly DecoderStack model;
    readonly Linear? lm_head;
    readonly Rotary rope;

    public ModelConfig Config { get; }

    /// <param name="seed">Seeds a private generator for the initial weights, so initialization does not depend on
    /// (or disturb) torch's process-wide generator that other code in the process may be using concurrently.</param>
    public Transformer(ModelConfig config, long seed = 0) : this(config, seed, initialize: true) { }

    Transformer(ModelConfig config, long seed, bool initialize) : base("Transformer")
    {
        Config = config.Validate();
        Linear.Uninitialized = !initialize;
        try
        {
            model = new DecoderStack(config);
            if (!config.TieWordEmbeddings) lm_head = new Linear(config.HiddenSize, config.VocabSize);
        }
        finally { Linear.Uninitialized = false; }
        rope = new Rotary(config.QkRopeHeadDim, config.MaxPositionEmbeddings, config.RopeTheta);
        RegisterComponents();
        if (initialize) InitWeights(config.InitializerRange, seed);
    }

    /// <summary>A model whose weights a loader is about to overwrite (or, quantized, release): projection weights are
    /// allocated but never written, so a quantized folder's load never makes its fp32 size resident.</summary>
    internal static Transformer ForLoading(ModelConfig config) => new(config, 0, initialize: false);

    /// <summary>Replaces every quantized weight by an fp32 master of its decoded values.</summary>
    public Transformer Dequantize()
    {
        Unfreeze();
        foreach (var l in modules().OfType<Linear>()) l.Dequantize();
        return this;
    }

    /// <summary>True when some Linear holds a quantized weight (a folder written by `seek quantize`).</summary>
    public bool IsQuantized => modules().OfType<Linear>().Any(l => l.Quantized is not null);

    /// <summary>Refuses to train a quantized model in full: <paramref name="what"/> names the command.</summary>
    public void RefuseQuantizedTraining(string what, string dir)
    {
        if (IsQuantized)
            throw new SeekSharpException($"{dir}: is a quantized model folder; {what} needs full-precision weights (train the bf16/fp32 parent, or use `seek chat sft --lora` for a QLoRA adapter on this one).");
    }

    /// <summary>The MoE layers' routers, in layer order (empty for a dense model).</summary>
    public IReadOnlyList<(int Layer, Gate Gate)> Gates =>
        model.Layers.Concat(model.MtpLayers).Select((b, i) => (i, b.Moe?.Gate)).Where(p => p.Item2 is not null).Select(p => (p.i, p.Item2!)).ToList();

    /// <summary>The MoE feed-forwards, in layer order (empty for a dense model).</summary>
    public IReadOnlyList<(int Layer, MoE Moe)> MoeLayers =>
        model.Layers.Select((b, i) => (i, b.Moe)).Where(p => p.Moe is not null).Select(p => (p.i, p.Moe!)).ToList();

    /// <summary>Dtype of every matmul (the precision seam); fp32 masters are untouched.</summary>
    public ScalarType ComputeType { get; private set; } = ScalarType.Float32;

    /// <summary>Sets the matmul dtype; unfreezes (<see cref="Freeze"/>) first.</summary>
    public Transformer SetComputeType(ScalarType dtype)
    {
        Unfreeze();
        ComputeType = dtype;
        foreach (var m in modules())
        {
            if (m is Linear l) l.ComputeType = dtype;
            else if (m is RmsNorm n) n.OutputType = dtype;
        }
        return this;
    }

    /// <summary>The matmul dtype a `--precision` name stands for: "bf16" is bfloat16, and so is "fp8" (whose simulated FP8
    /// products run in bf16 on dequantized values, Fp8Linear); anything else (the callers have checked it is "fp32") float32.</summary>
    public static ScalarType ComputeTypeOf(string precision) => precision is "bf16" or "fp8" ? ScalarType.BFloat16 : ScalarType.Float32;

    /// <param name="ids">(B, T) token ids at positions start..start+T-1 (an int), or at per-row positions.</param>
    /// <returns>Logits (B, T, V) in fp32, and the MoE balance loss (null when off or not training).</returns>
    public (Tensor Logits, Tensor? AuxLoss) Forward(Tensor ids, Positions pos = default, KvCache? cache = null)
    {
        using var scope = NewDisposeScope();
        var (h, aux) = model.Forward(ids, pos, rope, cache);
        return (Head(h).MoveToOuterDisposeScope(), aux?.MoveToOuterDisposeScope());
    }

    /// <summary>Final hidden states (B, T, D) after the last norm, in the compute dtype, for heads other than the
    /// language-model head (a reward model's scalar head), and the MoE balance loss.</summary>
    public (Tensor Hidden, Tensor? AuxLoss) ForwardHidden(Tensor ids) => model.Forward(ids, 0, rope, null);

    /// <summary>Next-token logits only (B, V) for the last position; cheaper when decoding.</summary>
    /// <param name="lastIndex">Per row, the index in T of its last real token (right-padded rows of a batched
    /// prefill); default: the last column for every row.</param>
    public Tensor ForwardLast(Tensor ids, Positions pos, KvCache? cache, IReadOnlyList<int>? lastIndex = null)
    {
        using var scope = NewDisposeScope();
        var (h, _) = model.Forward(ids, pos, rope, cache);
        Tensor last;
        if (lastIndex is null) last = h.narrow(1, h.shape[1] - 1, 1).squeeze(1);
        else last = AtPositions(h, lastIndex);
        return Head(last).MoveToOuterDisposeScope();
    }

    /// <summary>Row b of (B, T, D) <paramref name="h"/> at its position <paramref name="index"/>[b] in T: (B, D).</summary>
    static Tensor AtPositions(Tensor h, IReadOnlyList<int> index)
    {
        var at = tensor(index.Select(i => (long)i).ToArray(), device: h.device).view(-1, 1, 1).expand(h.shape[0], 1, h.shape[2]);
        return h.gather(1, at).squeeze(1);
    }

    /// <summary>MTP depth (1-based) that the model has (config num_nextn_predict_layers).</summary>
    public int MtpDepth => model.MtpLayers.Count;

    /// <summary>The training forward with multi-token prediction (DeepSeek-V3 section 2.2): the main logits over
    /// <paramref name="ids"/> (B, T), and for each depth k = 1..D the logits (B, T-k, V) that position i gives for
    /// token i+k+1 (that is, targets[:, k:] of the main next-token targets). No cache: training and evaluation.</summary>
    public (Tensor Logits, Tensor? AuxLoss, Tensor[] MtpLogits) ForwardMtp(Tensor ids)
    {
        using var scope = NewDisposeScope();
        var (h, aux) = model.Residual(ids, 0, rope, null);
        var logits = Head(model.Norm(h));
        var mtp = new Tensor[MtpDepth];
        long t = ids.shape[1];
        for (int k = 1; k <= mtp.Length && k < t; k++)
        {
            // Depth k at position i: the previous depth's state at i and the embedding of token i+k.
            var prev = h.narrow(1, 0, t - k);
            var emb = model.Embed(ids.narrow(1, k, t - k));
            var (next, normed, a) = model.MtpLayers[k - 1].ForwardMtp(prev, emb, 0, rope, null);
            mtp[k - 1] = Head(normed).MoveToOuterDisposeScope();
            if (a is not null) aux = aux is null ? a : aux.add(a, Scalars.One);
            h = next;
        }
        if (mtp.Any(m => m is null)) throw new SeekSharpException($"sequence length {t} is too short for MTP depth {mtp.Length}: need at least {mtp.Length + 1} tokens.");
        return (logits.MoveToOuterDisposeScope(), aux?.MoveToOuterDisposeScope(), mtp);
    }

    /// <summary>A cached forward for speculative decoding: logits (B, T, V) at every input position and the residual
    /// stream (B, T, D) before the final norm, which <see cref="Draft"/> reads.</summary>
    public (Tensor Logits, Tensor Residual) ForwardVerify(Tensor ids, Positions pos, KvCache cache)
    {
        using var scope = NewDisposeScope();
        var (h, _) = model.Residual(ids, pos, rope, cache);
        var logits = Head(model.Norm(h));
        return (logits.MoveToOuterDisposeScope(), h.MoveToOuterDisposeScope());
    }

    /// <summary>MTP module 1 as a drafter: from the main residual <paramref name="h"/> (B, T, D) at positions p and the
    /// tokens <paramref name="next"/> (B, T) at p+1, logits (B, V) for the token after p+1 at each row's position
    /// <paramref name="pick"/> in T (null: none, only the cache entries). Its keys go to the cache layer after the main
    /// model's (a KvCache built with mtpLayers: 1). Only the picked positions go through the head: at a small model's
    /// size the head is a large share of a step, and the other positions' logits were never read.</summary>
    public Tensor? Draft(Tensor h, Tensor next, Positions pos, KvCache cache, IReadOnlyList<int>? pick)
    {
        using var scope = NewDisposeScope();
        var block = model.MtpLayers[0];
        var layer = cache.Layers[Config.NumHiddenLayers];
        cache.Prepare(pos, next.shape[1]);
        // The fused path when the main model takes it: the drafter is a whole block, as dear as a main layer.
        bool fused = model.Fused && block.Fusable && Bf16Gemm.Available && !is_grad_enabled() && next.numel() <= Bf16Gemm.MaxRows
            && next.device_type == DeviceType.CPU && layer.A.dtype == ScalarType.BFloat16;
        var (_, normed, _) = block.ForwardMtp(h, model.Embed(next), pos, rope, layer, fused);
        return pick is null ? null : Head(AtPositions(normed, pick)).MoveToOuterDisposeScope();
    }

    /// <summary>Output head: (..., D) → fp32 logits (..., V), through lm_head or the tied embedding matrix.</summary>
    Tensor Head(Tensor h)
    {
        var logits = lm_head is not null
            ? lm_head.forward(h)
            : frozenHead is not null ? Bf16Gemm.Linear(h.to_type(ComputeType), frozenHead)
            : nn.functional.linear(h.to_type(ComputeType), model.EmbedWeight.to_type(ComputeType));
        return logits.to_type(ScalarType.Float32);
    }

    Tensor? frozenHead; // the tied head's weight in ComputeType, while frozen

    /// <summary>Whether <see cref="Freeze"/> may turn on the fused decode path (Block.Fused.cs); tests turn it off to
    /// compare with the libtorch path. Default true.</summary>
    public bool FusedDecode { get; set; } = true;

    /// <summary>True while frozen with the fused decode path on: small cached forwards run as one C# call per block.</summary>
    public bool DecodesFused => model.Fused;

    /// <summary>True between <see cref="Freeze"/> and <see cref="Unfreeze"/>.</summary>
    public bool Frozen { get; private set; }

    /// <summary>For inference: every matmul weight is cast to <see cref="ComputeType"/> once and kept, instead of
    /// on every forward. The weights must not change until <see cref="Unfreeze"/>; never train a frozen model.</summary>
    public Transformer Freeze()
    {
        if (Frozen) return this;
        using var _ = no_grad();
        foreach (var block in model.Layers.Concat(model.MtpLayers)) block.Freeze();
        lm_head?.Freeze();
        if (lm_head is null)
            using (NewDisposeScope()) // keeps detach()'s result alive while to_type reads it (Native/Finite.cs)
                frozenHead = model.EmbedWeight.detach().to_type(ComputeType).DetachFromDisposeScope();
        model.Fused = FusedDecode && model.Layers.All(b => b.Fusable);
        Frozen = true;
        MallocTuning.ReturnFreedMemory(); // what freezing freed (quantized experts' blocks, now fused) leaves the process
        return this;
    }

    /// <summary>True once <see cref="ReleaseMasters"/> ran: the model runs frozen only.</summary>
    public bool MastersReleased { get; private set; }

    /// <summary>For a model that is only served (`seek serve`, `seek bench engine`): after <see cref="Freeze"/>, releases the
    /// fp32 masters no forward reads any more (each frozen Linear reads its copy in the compute dtype, an MoE's experts the
    /// stacked copy), so a bf16 model holds its weights once in bf16 instead of fp32 + bf16 (4 + 2 bytes a parameter).
    /// Embeddings, norms, the router and quantized weights stay. Irreversible: <see cref="Unfreeze"/> and
    /// <see cref="SetComputeType"/> are refused afterwards. Returns the bytes released.</summary>
    public long ReleaseMasters()
    {
        if (!Frozen) throw new InvalidOperationException("ReleaseMasters needs a frozen model (Freeze first).");
        long bytes = 0;
        using (no_grad())
        {
            // In any order: an expert's Linear is not frozen itself (0 here), its MoE releases it; once released it counts 0.
            foreach (var m in modules())
                bytes += m switch { MoE moe => moe.ReleaseExpertMasters(), Linear l => l.ReleaseMaster(), _ => 0 };
        }
        MastersReleased = true;
        MallocTuning.ReturnFreedMemory();
        return bytes;
    }

    /// <summary>Drops the cast copies: forwards cast from the masters again (what training needs).</summary>
    public Transformer Unfreeze()
    {
        if (MastersReleased) throw new InvalidOperationException("this model's fp32 masters were released for serving (ReleaseMasters): it can only run frozen.");
        model.Fused = false;
        foreach (var block in model.Layers.Concat(model.MtpLayers)) block.Unfreeze();
        lm_head?.Unfreeze();
        frozenHead?.Dispose();
        frozenHead = null;
        Frozen = false;
        return this;
    }

    /// <param name="keep">Null: every parameter. Otherwise only the parameters it accepts are written; the others' draws
    /// are still taken from the generator (into a temporary), so a pipeline stage's weights equal the whole model's.</param>
    void InitWeights(double std, long seed, Func<string, bool>? keep = null)
    {
        using var _ = no_grad();
        using var generator = new Generator((ulong)seed);
        foreach (var (name, p) in named_parameters())
        {
            if (keep is not null && !keep(name))
            {
                if (!(name.EndsWith("layernorm.weight") || name.EndsWith("norm.weight")))
                    using (NewDisposeScope()) Scalars.Normal(0, std, p.shape, generator);
                continue;
            }
            if (name.EndsWith("layernorm.weight") || name.EndsWith("norm.weight")) p.fill_(Scalars.Of(1.0));   // a cached Scalar: an implicit one can be finalized mid-call (Native/Scalars.cs)
            // Not nn.init.normal_: in TorchSharp 0.107 it ignores its generator argument (two models
            // built with one seed came out different); torch.normal honours it.
            else
                using (NewDisposeScope()) // normal()'s result stays referenced while copy_ reads it (Native/Finite.cs)
                    p.copy_(Scalars.Normal(0, std, p.shape, generator));
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) { rope.Dispose(); frozenHead?.Dispose(); }
        base.Dispose(disposing);
    }
}
