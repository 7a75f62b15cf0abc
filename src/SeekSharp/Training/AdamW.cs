using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using SeekSharp.Native;

namespace SeekSharp.Training;

// AdamW written out rather than TorchSharp's, so its state is plain named tensors we can store in
// safetensors next to the weights (resume must reproduce the uninterrupted run exactly) and so the
// update runs in fp32 on the master weights whatever the compute dtype. Weight decay is decoupled and
// applied to matrices only; norms' gains are not decayed.
// A parameter joins the update at its first gradient (an expert no token has reached yet is left alone,
// as its moments would be zero anyway); from then on it is updated every step, a step in which it gets
// no gradient counting as a zero gradient: its moments decay and weight decay applies. Gradient tensors
// stay allocated between steps (ZeroGrad zeroes, never frees), which is what gives that; LoadState
// re-creates those zero gradients for every parameter with saved moments, so a resumed run is in the
// uninterrupted run's state to the bit (clipping sees the same set of gradients too), and a parameter
// without saved moments is one that had no gradient yet, not a damaged checkpoint (the saved count says).
// AdamW.Flat keeps all of it in a few flat buffers instead (FlatParameters: one pass per update, bf16 working
// copies); same math, same names and shapes in a checkpoint. Its caller calls Collect after every backward.

/// <summary>AdamW over named parameters with saveable state.</summary>
public sealed class AdamW : IDisposable
{
    readonly List<(string Name, Parameter P, bool Decay)> parameters;
    readonly Dictionary<string, (Tensor M, Tensor V)> state = new();
    readonly TrainConfig cfg;
    readonly FlatParameters? flat;

    internal FlatParameters? FlatLayout => flat;

    /// <summary>The parameters this optimizer updates (those that required gradients when it was built).</summary>
    public IReadOnlyList<Parameter> Parameters { get; }

    /// <summary>Optimizer steps taken (bias correction uses it).</summary>
    public long Step { get; private set; }

    public AdamW(IEnumerable<(string Name, Parameter P)> named, TrainConfig cfg)
    {
        this.cfg = cfg;
        parameters = named.Where(p => p.P.requires_grad).Select(p => (p.Name, p.P, p.P.dim() >= 2)).ToList();
        Parameters = parameters.Select(p => p.P).ToList();
    }

    AdamW(FlatParameters flat, TrainConfig cfg)
    {
        this.cfg = cfg;
        this.flat = flat;
        parameters = flat.Parameters.ToList();
        Parameters = parameters.Select(p => p.P).ToList();
    }

    /// <summary>AdamW over the model's trainable parameters in flat buffers, with bf16 working copies of its Linear
    /// weights when it computes in bf16 (<see cref="FlatParameters"/>). Build it after the model is on its device and
    /// in its compute dtype; call <see cref="Collect"/> after every backward.</summary>
    public static AdamW Flat(Modeling.Transformer model, TrainConfig cfg) => new(new FlatParameters(model.named_parameters(), model), cfg);

    /// <summary>Bytes the flat layout adds: the working copies and their gradients (0 otherwise).</summary>
    public long WorkingBytes => flat?.WorkingBytes ?? 0;

    /// <summary>After a backward: moves the working copies' gradients to the masters (flat layout; no-op otherwise).</summary>
    public void Collect() => flat?.Collect();

    /// <summary>Global L2 norm of the parameters' gradients, which are scaled down to <paramref name="maxNorm"/> when
    /// above it and <paramref name="maxNorm"/> &gt; 0 (torch's clip_grad_norm_).</summary>
    public double ClipGradients(double maxNorm)
    {
        if (flat is not null) return flat.ClipGradNorm(maxNorm);
        using var scope = NewDisposeScope();
        if (maxNorm > 0) return nn.utils.clip_grad_norm_(Parameters, maxNorm);
        double sq = 0;
        foreach (var p in Parameters)
            if (p.grad is { } g) sq += g.square().sum().item<float>();
        return Math.Sqrt(sq);
    }

    public void Update(double lr)
    {
        using var _ = no_grad();
        Step++;
        double bc1 = 1 - Math.Pow(cfg.Beta1, Step), bc2 = 1 - Math.Pow(cfg.Beta2, Step);
        // Native Scalars made once per update and alive until every parameter is done (see Native/Scalars.cs).
        using Scalar keep = (1 - lr * cfg.WeightDecay).ToScalar(), bias2 = bc2.ToScalar(), stepSize = (-lr / bc1).ToScalar();
        Scalar beta1 = Scalars.Of(cfg.Beta1), beta2 = Scalars.Of(cfg.Beta2), eps = Scalars.Of(cfg.Eps);
        Scalar oneMinusBeta1 = Scalars.Of(1 - cfg.Beta1), oneMinusBeta2 = Scalars.Of(1 - cfg.Beta2);
        if (flat is not null)
        {
            flat.Update((float)cfg.Beta1, (float)cfg.Beta2, (float)cfg.Eps, cfg.WeightDecay > 0 ? (float)(1 - lr * cfg.WeightDecay) : 1f,
                (float)bc2, (float)(-lr / bc1));
            return;
        }
        foreach (var (name, p, decay) in parameters)
        {
            var g = p.grad;
            if (g is null && !state.ContainsKey(name)) continue;     // no gradient yet: not started
            if (g is null) p.grad = g = zeros_like(p).DetachFromDisposeScope();   // started: a missing gradient is a zero one
            if (!state.TryGetValue(name, out var s))
            {
                s = (zeros_like(p).DetachFromDisposeScope(), zeros_like(p).DetachFromDisposeScope());
                state[name] = s;
            }
            using var scope = NewDisposeScope();
            if (decay && cfg.WeightDecay > 0) p.mul_(keep);
            s.M.mul_(beta1).add_(g, alpha: oneMinusBeta1);
            s.V.mul_(beta2).addcmul_(g, g, value: oneMinusBeta2);
            var denom = (s.V / bias2).sqrt_().add_(eps, Scalars.One);
            p.addcdiv_(s.M, denom, value: stepSize);
        }
    }

    public void ZeroGrad()
    {
        if (flat is not null) { flat.ZeroGrad(); return; }
        foreach (var (_, p, _) in parameters)
        {
            var g = p.grad;
            if (g is not null) g.zero_();
        }
    }

    /// <summary>Moment tensors by "name.exp_avg" / "name.exp_avg_sq" (fp32).</summary>
    public Dictionary<string, Tensor> StateTensors()
    {
        var d = new Dictionary<string, Tensor>();
        if (flat is not null)
        {
            foreach (var (name, m, v) in flat.StartedMoments) { d[name + ".exp_avg"] = m; d[name + ".exp_avg_sq"] = v; }
            return d;
        }
        foreach (var (name, (m, v)) in state) { d[name + ".exp_avg"] = m; d[name + ".exp_avg_sq"] = v; }
        return d;
    }

    /// <summary>Parameters that have moments (have had a gradient); saved with the moments so a restore can tell a
    /// parameter that never had a gradient from a missing tensor.</summary>
    public int StartedCount => flat?.StartedCount ?? state.Count;

    /// <summary>Restores moments saved by <see cref="StateTensors"/>; names and shapes must match this model.</summary>
    /// <param name="started">How many parameters had moments when saved (<see cref="StartedCount"/>); null (older
    /// checkpoints) requires moments for every parameter once step &gt; 0.</param>
    public void LoadState(IReadOnlyDictionary<string, Tensor> tensors, long step, string source, int? started = null)
    {
        Step = step;
        int found = 0;
        foreach (var (name, p, _) in parameters)
        {
            if (!tensors.TryGetValue(name + ".exp_avg", out var m) || !tensors.TryGetValue(name + ".exp_avg_sq", out var v))
            {
                if (step == 0 || started is not null) continue;
                throw new SeekSharpException($"{source}: optimizer state for parameter '{name}' is missing.");
            }
            found++;
            if (!m.shape.SequenceEqual(p.shape) || !v.shape.SequenceEqual(p.shape))
                throw new SeekSharpException($"{source}: optimizer state for '{name}' has shape [{string.Join(",", m.shape)}], expected [{string.Join(",", p.shape)}].");
            if (flat is not null)
            {
                var (fm, fv) = flat.Start(name);
                using (no_grad()) { fm.copy_(m); fv.copy_(v); }
                continue;
            }
            if (state.Remove(name, out var old)) { old.M.Dispose(); old.V.Dispose(); }
            state[name] = (m.to(p.device).to_type(ScalarType.Float32).DetachFromDisposeScope(),
                           v.to(p.device).to_type(ScalarType.Float32).DetachFromDisposeScope());
            // As in the uninterrupted run, a started parameter holds a (zeroed) gradient between steps.
            if (p.grad is null) p.grad = zeros_like(p).DetachFromDisposeScope();
            else p.grad.zero_();
        }
        if (started is { } n && n != found)
            throw new SeekSharpException($"{source}: optimizer state for {n} parameter(s) expected, {found} found for this model.");
        flat?.ZeroGrad();
        flat?.RefreshWorking(); // the weights were restored before the moments
    }

    /// <summary>After the weights were written from outside the optimizer (a DiLoCo worker taking the hub's weights):
    /// rewrites the bf16 working copies from the masters so the next forward sees the new weights.</summary>
    public void WeightsChanged() => flat?.RefreshWorking();

    public void Dispose()
    {
        foreach (var (m, v) in state.Values) { m.Dispose(); v.Dispose(); }
        state.Clear();
        flat?.Dispose();
    }
}
