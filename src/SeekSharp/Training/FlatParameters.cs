using System.Numerics;
using System.Runtime.InteropServices;
using TorchSharp;
using Parameter = TorchSharp.Modules.Parameter;
using static TorchSharp.torch;
using SeekSharp.Modeling;
using Linear = SeekSharp.Modeling.Linear;
using Transformer = SeekSharp.Modeling.Transformer;

namespace SeekSharp.Training;

// Why flat: AdamW written per parameter is ~7 libtorch ops per tensor, and MoE models have hundreds of tensors
// (301 for `small`: every expert's three projections). Each op is a small OpenMP region; on a loaded machine a
// region waits for a descheduled thread, and the optimizer, clipping and zeroing took up to half the step. Here
// every parameter, gradient and moment is a view into one fp32 buffer each, and the update is one pass over them
// in C# (below), clipping one norm and zeroing one fill.
// Working copies: each Linear's weight also lives in one bf16 buffer that the update pass rewrites from the new
// master, so forwards read it instead of casting every master every step (Linear.Working). The matmul's weight
// gradient then lands, in bf16, on the working copy, which is exactly what the cast's backward used to widen to
// fp32 and add into the master's gradient; Collect does that widening and adding, once per micro-batch, so the
// masters' gradients are the same numbers as before.
// Layout: the Linear weights first (same order in both buffers), then the other decayed matrices, then the
// undecayed vectors (norm gains), so decay is a range. A parameter joins at its first gradient, as in AdamW:
// until then its gradient stays null (autograd's fresh one is what says it was reached), its range of the
// buffers stays zero, and the update skips it.

/// <summary>Parameters, gradients, AdamW moments and bf16 working copies as views into a few flat buffers.</summary>
public sealed unsafe class FlatParameters : IDisposable
{
    sealed record Slot(string Name, Parameter P, long Offset, long Numel, Tensor? Working)
    {
        public bool Started;
    }

    readonly List<Slot> slots = [];
    readonly Tensor data, grad, m, v;       // fp32 (total)
    readonly Tensor? work, workGrad;        // compute dtype (workCount), the Linear weights
    readonly long total, workCount, decayCount;
    readonly List<Linear> linears = [];
    List<(long Start, long End)>? runs;    // started ranges, merged; null when a slot started since

    /// <summary>Elements in all parameters.</summary>
    public long Total => total;

    /// <summary>Bytes of the working copies and their gradients.</summary>
    public long WorkingBytes => work is null ? 0 : 2 * workCount * work.element_size();

    /// <param name="named">The parameters to train (requires_grad), as AdamW receives them.</param>
    /// <param name="model">Its Linears whose weight is among them get working copies when the compute dtype is not fp32.</param>
    public FlatParameters(IEnumerable<(string Name, Parameter P)> named, Transformer model)
    {
        using var _ = no_grad();
        var list = named.Where(p => p.P.requires_grad).ToList();
        var device = list.Count > 0 ? list[0].P.device : CPU;
        var byHandle = model.ComputeType == ScalarType.Float32 ? new Dictionary<IntPtr, Linear>()
            : model.modules().OfType<Linear>().Where(l => l.Quantized is null && l.Adapter is null && l.weight.numel() > 0)
                .ToDictionary(l => l.weight.Handle);
        var ordered = list.Where(p => byHandle.ContainsKey(p.P.Handle))
            .Concat(list.Where(p => !byHandle.ContainsKey(p.P.Handle) && p.P.dim() >= 2))
            .Concat(list.Where(p => p.P.dim() < 2)).ToList();
        foreach (var (_, p) in ordered)
        {
            if (byHandle.ContainsKey(p.Handle)) workCount += p.numel();
            if (p.dim() >= 2) decayCount += p.numel();
            total += p.numel();
        }
        data = zeros(total, device: device);
        grad = zeros(total, device: device);
        m = zeros(total, device: device);
        v = zeros(total, device: device);
        if (workCount > 0)
        {
            work = zeros(workCount, dtype: model.ComputeType, device: device);
            workGrad = zeros(workCount, dtype: model.ComputeType, device: device);
        }
        long offset = 0;
        foreach (var (name, p) in ordered)
        {
            long n = p.numel();
            var view = data.narrow(0, offset, n).view(p.shape);
            view.copy_(p);
            p.set_(view);
            Tensor? w = null;
            if (byHandle.TryGetValue(p.Handle, out var linear))
            {
                w = work!.narrow(0, offset, n).view(p.shape).requires_grad_(true);
                w.copy_(p);
                linear.Working = w;
                linears.Add(linear);
            }
            slots.Add(new Slot(name, p, offset, n, w));
            offset += n;
        }
    }

    /// <summary>Names in order, with the parameter, so AdamW keeps its view of them.</summary>
    public IEnumerable<(string Name, Parameter P, bool Decay)> Parameters => slots.Select(s => (s.Name, s.P, s.P.dim() >= 2));

    /// <summary>After each micro-batch's backward: parameters reached for the first time move their fresh gradient into
    /// the buffers, then the working copies' bf16 gradients are widened and added into the masters' (and zeroed).</summary>
    public void Collect()
    {
        using var _ = no_grad();
        foreach (var s in slots)
        {
            if (s.Started) continue;
            var holder = s.Working ?? s.P;
            if (holder.grad is not { } fresh) continue;
            var view = ViewOf(s.Working is null ? grad : workGrad!, s);
            view.copy_(fresh);
            fresh.Dispose();
            holder.grad = view;
            if (s.Working is not null) s.P.grad = ViewOf(grad, s);
            s.Started = true;
            runs = null;
        }
        if (workGrad is null) return;
        if (!InCSharp)
        {
            grad.narrow(0, 0, workCount).add_(workGrad);
            workGrad.zero_();
            return;
        }
        float* g = Ptr<float>(grad);
        ushort* wg = Ptr<ushort>(workGrad);
        Parallel.For(0, Chunks(workCount), c =>
        {
            var (a, b) = Chunk(c, workCount);
            long i = a;
            int n = Vector<ushort>.Count, h = n / 2;
            for (; i + n <= b; i += n)
            {
                Vector.Widen(Vector.Load(wg + i), out var lo, out var hi);   // bf16 is the top half of an fp32
                (Vector.Load(g + i) + Vector.AsVectorSingle(Vector.ShiftLeft(lo, 16))).Store(g + i);
                (Vector.Load(g + i + h) + Vector.AsVectorSingle(Vector.ShiftLeft(hi, 16))).Store(g + i + h);
                Vector<ushort>.Zero.Store(wg + i);
            }
            for (; i < b; i++) { g[i] += BitConverter.Int32BitsToSingle(wg[i] << 16); wg[i] = 0; }
        });
    }

    /// <summary>Marks a parameter started (a checkpoint had moments for it): its gradient becomes its (zero) view.</summary>
    public (Tensor M, Tensor V) Start(string name)
    {
        var s = slots.First(s => s.Name == name);
        if (!s.Started)
        {
            if (s.Working is not null) s.Working.grad = ViewOf(workGrad!, s);
            s.P.grad = ViewOf(grad, s);
            s.Started = true;
            runs = null;
        }
        return Moments(s);
    }

    /// <summary>The moments of the started parameters, by name.</summary>
    public IEnumerable<(string Name, Tensor M, Tensor V)> StartedMoments =>
        slots.Where(s => s.Started).Select(s => { var (mm, vv) = Moments(s); return (s.Name, mm, vv); });

    public int StartedCount => slots.Count(s => s.Started);

    (Tensor M, Tensor V) Moments(Slot s) => (ViewOf(m, s), ViewOf(v, s));

    static Tensor ViewOf(Tensor buffer, Slot s) => buffer.narrow(0, s.Offset, s.Numel).view(s.P.shape);

    /// <summary>Global L2 norm of the gradients; scaled down to <paramref name="maxNorm"/> when above it (&gt; 0), as
    /// torch's clip_grad_norm_ does.</summary>
    public double ClipGradNorm(double maxNorm)
    {
        using var _ = no_grad();
        double norm = grad.norm().item<float>();
        if (maxNorm > 0)
        {
            double coef = maxNorm / (norm + 1e-6);
            if (coef < 1) grad.mul_(coef);
        }
        return norm;
    }

    public void ZeroGrad()
    {
        using var _ = no_grad();
        grad.zero_();
    }

    /// <summary>One AdamW step over the started parameters, in one pass: moments, decoupled weight decay on the matrices,
    /// the update, and the working copies rewritten from the new masters (bf16, round to nearest even, as a cast).</summary>
    public void Update(float beta1, float beta2, float eps, float keep, float bc2, float stepSize)
    {
        runs ??= Runs();
        if (!InCSharp) { UpdateWithTorch(beta1, beta2, eps, keep, bc2, stepSize); return; }
        float* p = Ptr<float>(data), g = Ptr<float>(grad), mm = Ptr<float>(m), vv = Ptr<float>(v);
        ushort* w = work is null ? null : Ptr<ushort>(work);
        bool bf16 = work?.dtype == ScalarType.BFloat16;
        long wc = bf16 ? workCount : 0;
        foreach (var (start, end) in runs)
            Parallel.For(0, Chunks(end - start), c =>
            {
                var (a, b) = Chunk(c, end - start);
                a += start; b += start;
                Step(p, g, mm, vv, a, Math.Min(b, Math.Max(a, decayCount)), keep, beta1, beta2, eps, bc2, stepSize);
                Step(p, g, mm, vv, Math.Max(a, decayCount), b, 1f, beta1, beta2, eps, bc2, stepSize);
                if (a < wc) ToBf16(p, w, a, Math.Min(b, wc));
            });
        if (work is not null && !bf16)
            using (no_grad()) work.copy_(data.narrow(0, 0, workCount));
    }

    /// <summary>The update pass runs in C# on CPU buffers; elsewhere (CUDA), or when a test asks, as libtorch ops on
    /// the same flat ranges (a few ops per range instead of per tensor).</summary>
    internal bool ForceTorchOps { get; set; }

    bool InCSharp => !ForceTorchOps && data.device_type == DeviceType.CPU;

    void UpdateWithTorch(float beta1, float beta2, float eps, float keep, float bc2, float stepSize)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        using Scalar b1 = beta1, b2 = beta2, c1 = 1 - beta1, c2 = 1 - beta2, e = eps, k = keep, bias2 = bc2, step = stepSize;
        foreach (var (start, end) in runs!)
        {
            var (pp, gg, mm, vv) = (data.narrow(0, start, end - start), grad.narrow(0, start, end - start),
                m.narrow(0, start, end - start), v.narrow(0, start, end - start));
            if (start < decayCount && keep != 1f) pp.narrow(0, 0, Math.Min(end, decayCount) - start).mul_(k);
            mm.mul_(b1).add_(gg, alpha: c1);
            vv.mul_(b2).addcmul_(gg, gg, value: c2);
            pp.addcdiv_(mm, (vv / bias2).sqrt_().add_(e), value: step);
        }
        if (work is not null) work.copy_(data.narrow(0, 0, workCount));
    }

    /// <summary>Rewrites the working copies from the masters (after the weights were loaded from elsewhere).</summary>
    public void RefreshWorking()
    {
        if (work is null) return;
        using var _ = no_grad();
        work.copy_(data.narrow(0, 0, workCount));
    }

    static void Step(float* p, float* g, float* m, float* v, long a, long b, float keep, float beta1, float beta2, float eps, float bc2, float stepSize)
    {
        float c1 = 1 - beta1, c2 = 1 - beta2;
        long i = a;
        int n = Vector<float>.Count;
        for (; i + n <= b; i += n)
        {
            // The order of libtorch's kernels (mul_ then add_'s fused a + α·b; addcmul_'s s + (α·t1)·t2; addcdiv_'s
            // s + (α·t1)/t2), so the update rounds as the per-tensor one did.
            var gi = Vector.Load(g + i);
            var mi = Vector.Load(m + i) * beta1 + c1 * gi;
            var vi = Vector.Load(v + i) * beta2 + c2 * gi * gi;
            var denom = Vector.SquareRoot(vi / new Vector<float>(bc2)) + new Vector<float>(eps);
            var pi = Vector.Load(p + i) * keep + stepSize * mi / denom;
            mi.Store(m + i); vi.Store(v + i); pi.Store(p + i);
        }
        for (; i < b; i++)
        {
            float gi = g[i], mi = m[i] * beta1 + c1 * gi, vi = v[i] * beta2 + c2 * gi * gi;
            m[i] = mi; v[i] = vi;
            p[i] = p[i] * keep + stepSize * mi / (MathF.Sqrt(vi / bc2) + eps);
        }
    }

    static void ToBf16(float* p, ushort* w, long a, long b)
    {
        for (long i = a; i < b; i++)
        {
            uint bits = BitConverter.SingleToUInt32Bits(p[i]);
            w[i] = float.IsNaN(p[i]) ? (ushort)0x7FC0 : (ushort)((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16);
        }
    }

    List<(long Start, long End)> Runs()
    {
        var r = new List<(long Start, long End)>();
        foreach (var s in slots.Where(s => s.Started))
            if (r.Count > 0 && r[^1].End == s.Offset) r[^1] = (r[^1].Start, s.Offset + s.Numel);
            else r.Add((s.Offset, s.Offset + s.Numel));
        return r;
    }

    const long ChunkSize = 1 << 16;
    static int Chunks(long n) => (int)((n + ChunkSize - 1) / ChunkSize);
    static (long A, long B) Chunk(int c, long n) => (c * ChunkSize, Math.Min(n, (c + 1) * ChunkSize));

    static T* Ptr<T>(Tensor t) where T : unmanaged => Kernels.TensorPointer.Of<T>(t);

    public void Dispose()
    {
        foreach (var l in linears) l.Working = null;
        foreach (var s in slots) s.Working?.Dispose();
        data.Dispose(); grad.Dispose(); m.Dispose(); v.Dispose(); work?.Dispose(); workGrad?.Dispose();
    }
}
