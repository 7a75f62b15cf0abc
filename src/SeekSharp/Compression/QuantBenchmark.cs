using System.Diagnostics;
using SeekSharp.Native;
using static TorchSharp.torch;

namespace SeekSharp.Compression;

// `seek bench quant`: every route for y = x · Wᵀ at decode shapes, timed in one run and interleaved (each round
// times every route once, the median over rounds is reported) because this machine is shared and noisy: the
// ratios to bf16 inside one run are what to read, not the absolute µs.
// Routes: bf16 and fp32 nn.functional.linear (the engine's path today), QuantKernels on one thread and on all
// cores (fp32 dequantize + FMA, the default), its llama.cpp-style int8-activation route, and libtorch's own int
// kernels through TorchScript (TorchSharp binds neither):
//   int8pack: _weight_int8pack_mm, per-channel int8 (one scale per output row, so NOT Q8_0's numbers);
//   int4pack: _weight_int4pack_mm_for_cpu with group 32 and zero points 0, which is Q4_0's arithmetic.
// Weights are random; only the shapes and bytes matter for speed. The L3 of this VM holds every weight, so the
// GB/s column is cache bandwidth: the ranking holds, the absolute figure would drop on a model that spills.

/// <summary>One route at one shape and row count.</summary>
/// <remarks>MicrosPerCall is the median over rounds, BestMicros the fastest round; GB/s and the speedup (bf16 linear's time
/// over this route's, so above 1 is faster) use the best round, the least disturbed by other processes.</remarks>
public sealed record QuantBenchResult(string Shape, long N, long K, int M, string Route, double MicrosPerCall, double BestMicros, double WeightBytes, double GigabytesPerSecond, double SpeedupVsBf16);

/// <summary>Times bf16/fp32 linear, the Q8_0/Q4_0 kernels and libtorch's int8/int4 pack kernels.</summary>
public static class QuantBenchmark
{
    /// <summary>Decode shapes of the presets as N x K (out x in): attention, MLP up/down, all experts fused, logits.</summary>
    public static readonly (long N, long K)[] DefaultShapes = [(384, 384), (1024, 384), (384, 1024), (8192, 384), (384, 8192), (4096, 384), (768, 2048)];

    const string Script = """
        def int8pack(x: Tensor, w: Tensor, s: Tensor) -> Tensor:
            return torch._weight_int8pack_mm(x, w, s)

        def int4pack(x: Tensor, w: Tensor, g: int, sz: Tensor) -> Tensor:
            return torch._weight_int4pack_mm_for_cpu(x, w, g, sz)

        def pack4(w: Tensor, tiles: int) -> Tensor:
            return torch._convert_weight_to_int4pack_for_cpu(w, tiles)

        """; // TorchScript's parser wants the last line to end in a newline

    /// <summary>Runs every route; <paramref name="progress"/> gets a line per shape (null: quiet).</summary>
    public static List<QuantBenchResult> Run(IReadOnlyList<(long N, long K)> shapes, IReadOnlyList<int> rowCounts, int rounds, Action<string>? progress = null)
    {
        using var _ = no_grad();
        using var cu = TryCompile(progress);
        var results = new List<QuantBenchResult>();
        foreach (var (n, k) in shapes)
            foreach (var m in rowCounts)
            {
                progress?.Invoke($"{n}x{k}, M={m}: {rounds} rounds");
                using var scope = NewDisposeScope();
                manual_seed(1);
                var w = randn(n, k) * 0.05f;
                var x = randn(m, k);
                var routes = Routes(cu, w, x, n, k, progress);
                var times = routes.ToDictionary(r => r.Name, _ => new List<double>());
                foreach (var r in routes) TimeCalls(r.Call, 3); // warm up, also the first-call allocations
                for (int round = 0; round < rounds; round++)
                    foreach (var r in routes) times[r.Name].Add(MicrosPerCall(r));
                double bf16 = times["bf16 linear"].Min();
                foreach (var r in routes)
                {
                    double best = times[r.Name].Min();
                    results.Add(new QuantBenchResult($"{n}x{k}", n, k, m, r.Name, Median(times[r.Name]), best, r.Bytes, r.Bytes / (best * 1e-6) / 1e9, bf16 / best));
                }
            }
        return results;
    }

    // TorchThreads: libtorch's intra-op threads while this route is timed (0: leave the process default). On a
    // loaded 2-core VM libtorch's second OpenMP thread can cost more than it brings, so bf16 is timed both ways.
    sealed record Route(string Name, double Bytes, Func<Tensor> Call, int TorchThreads = 0);

    static List<Route> Routes(jit.CompilationUnit? cu, Tensor w, Tensor x, long n, long k, Action<string>? progress)
    {
        var wb = w.to(ScalarType.BFloat16);
        var xb = x.to(ScalarType.BFloat16);
        var q8 = BlockQuant.Encode(w, BlockType.Q8_0);
        var q4 = BlockQuant.Encode(w, BlockType.Q4_0);
        double nk = n * k;
        var routes = new List<Route>
        {
            new("bf16 linear", nk * 2, () => nn.functional.linear(xb, wb)),
            new("bf16 linear 1 thread", nk * 2, () => nn.functional.linear(xb, wb), TorchThreads: 1),
            new("fp32 linear", nk * 4, () => nn.functional.linear(x, w)),
            new("q8_0 1 thread", q8.numel(), () => QuantKernels.Linear(xb, q8, BlockType.Q8_0, n, k, threads: 1)),
            new("q8_0 2 threads", q8.numel(), () => QuantKernels.Linear(xb, q8, BlockType.Q8_0, n, k, threads: 2)),
            new("q8_0 int8-act 1 thread", q8.numel(), () => QuantKernels.Linear(xb, q8, BlockType.Q8_0, n, k, threads: 1, QuantKernels.Route.Int8Activations)),
            new("q4_0 1 thread", q4.numel(), () => QuantKernels.Linear(xb, q4, BlockType.Q4_0, n, k, threads: 1)),
            new("q4_0 2 threads", q4.numel(), () => QuantKernels.Linear(xb, q4, BlockType.Q4_0, n, k, threads: 2)),
            new("q4_0 int8-act 1 thread", q4.numel(), () => QuantKernels.Linear(xb, q4, BlockType.Q4_0, n, k, threads: 1, QuantKernels.Route.Int8Activations)),
        };
        if (cu is null) return routes;
        try
        {
            // Per-channel int8: scale = row amax / 127.
            var scale = w.abs().amax([1]) / 127f;
            var w8 = (w / scale.unsqueeze(1)).round().to(ScalarType.Int8);
            var s8 = scale.to(ScalarType.BFloat16);
            routes.Add(new("int8pack bf16 (TorchScript)", nk + n * 2, () => cu.invoke<Tensor>("int8pack", xb, w8, s8)));
            // Q4_0's own nibbles and scales in libtorch's int4 layout: q in 0..15, w = (q - 8) * d + 0.
            var qs = q4.reshape(n, k / 32, 18).narrow(2, 2, 16).to(ScalarType.Int32);
            var q = cat([qs.remainder(Scalars.Of(16L)), qs.floor_divide(Scalars.Of(16L))], 2).reshape(n, k).contiguous();
            var packed = cu.invoke<Tensor>("pack4", q, 2L);
            var sz = stack([ScaleOf(q4, n, k).t(), zeros(k / 32, n)], 2).to(ScalarType.BFloat16).contiguous(); // [K/32, N, 2]
            routes.Add(new("int4pack bf16 (TorchScript)", packed.numel() + sz.numel() * 2, () => cu.invoke<Tensor>("int4pack", xb, packed, 32L, sz)));
        }
        catch (Exception e) when (e is not SeekSharpException)
        {
            progress?.Invoke($"libtorch int pack routes skipped: {e.Message.Split('\n')[0]}");
        }
        return routes;
    }

    /// <summary>The signed scale d of every Q4_0 block as float [N, K/32]: the block's largest-magnitude weight is
    /// encoded as nibble 0 and so decodes to exactly -8 d.</summary>
    static Tensor ScaleOf(Tensor q4, long n, long k)
    {
        var dec = BlockQuant.Decode(q4, BlockType.Q4_0, k).reshape(n, k / 32, 32);
        return dec.gather(2, dec.abs().argmax(2, keepdim: true)).squeeze(2) / -8f;
    }

    static jit.CompilationUnit? TryCompile(Action<string>? progress)
    {
        try { return jit.compile(Script); }
        catch (Exception e)
        {
            progress?.Invoke($"TorchScript unavailable, int pack routes skipped: {e.Message.Split('\n')[0]}");
            return null;
        }
    }

    /// <summary>µs per call over a batch sized to take about 2 ms.</summary>
    static double MicrosPerCall(Route route)
    {
        int before = get_num_threads();
        if (route.TorchThreads > 0) set_num_threads(route.TorchThreads);
        try { return MicrosPerCall(route.Call); }
        finally { set_num_threads(before); }
    }

    static double MicrosPerCall(Func<Tensor> call)
    {
        int reps = 1;
        while (true)
        {
            double s = TimeCalls(call, reps);
            if (s >= 2e-3 || reps >= 1 << 14) return s / reps * 1e6;
            reps = s <= 0 ? reps * 16 : (int)Math.Min(1 << 14, Math.Max(reps * 2, reps * 2.5e-3 / s));
        }
    }

    static double TimeCalls(Func<Tensor> call, int reps)
    {
        var sw = Stopwatch.StartNew();
        for (int i = 0; i < reps; i++) call().Dispose();
        return sw.Elapsed.TotalSeconds;
    }

    static double Median(List<double> xs)
    {
        var s = xs.Order().ToArray();
        return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
    }

    /// <summary>Seconds to encode a weight of <paramref name="parameters"/> values (shape [p/384, 384]) with each type.</summary>
    public static (double Q8, double Q4) EncodeSeconds(long parameters)
    {
        using var scope = NewDisposeScope();
        var w = randn(parameters / 384, 384);
        var sw = Stopwatch.StartNew();
        BlockQuant.Encode(w, BlockType.Q8_0).Dispose();
        double q8 = sw.Elapsed.TotalSeconds;
        sw.Restart();
        BlockQuant.Encode(w, BlockType.Q4_0).Dispose();
        return (q8, sw.Elapsed.TotalSeconds);
    }
}
