using TorchSharp;
using System.Diagnostics;
using SeekSharp.Ledger;
using SeekSharp.Modeling;
using SeekSharp.Native;
using static TorchSharp.torch;

namespace SeekSharp.Training;

// `seek bench train`: the real training step (TrainStep) on random tokens, so it needs no dataset and
// measures compute alone. Both precisions run in one process, one after the other, against matmul
// peaks measured at startup in the same process: on a noisy machine only comparisons made inside one
// run are meaningful. fp8 runs against the bf16 peak (its products are bf16 matmuls) and adds one untimed step
// that tallies the activations FP8 storage would shrink. Warmup steps are excluded (first-touch allocation, oneDNN kernel selection).

/// <summary>One precision's measured training throughput.</summary>
public sealed record TrainBenchResult(
    string Preset, string Precision, int BatchSize, int SeqLen, int Steps,
    double TokensPerSecond, double MsPerStep, double TrainingFlopsPerToken, double AchievedGflops,
    double PeakGflops, double Utilization, long TotalParams, long ActiveParams, bool MallocTuned)
{
    /// <summary>Which alternation round produced this figure (1-based).</summary>
    public int Round { get; init; } = 1;

    /// <summary>fp8 only: the inputs the FP8 Linears saved for backward in one step, as stored (bf16), and what they
    /// would take as E4M3 codes with one fp32 scale per 1x128 tile (how DeepSeek-V3 caches them); null otherwise.</summary>
    public Fp8SavedInputs? Fp8Saved { get; init; }
}

/// <summary>Bytes of the Linear inputs kept for backward in one training step, as held and as FP8 would hold them.</summary>
public sealed record Fp8SavedInputs(long Tensors, long Elements, long StoredBytes, long Fp8Bytes)
{
    public long SavedBytes => StoredBytes - Fp8Bytes;

    /// <summary>Counts what <paramref name="step"/> saves (Fp8Linear's tally, on this thread).</summary>
    public static Fp8SavedInputs Measure(Action step)
    {
        Modeling.Fp8Linear.SavedInputs = [];
        try
        {
            step();
            var d = Modeling.Fp8Linear.SavedInputs.Values;
            return new Fp8SavedInputs(d.Count, d.Sum(e => e.Elements), d.Sum(e => e.Elements * e.ElementSize), d.Sum(e => e.Elements + 4 * e.Scales));
        }
        finally { Modeling.Fp8Linear.SavedInputs = null; }
    }
}

/// <summary>Mean throughput of one preset and precision over rounds, and its ratio to the first preset's.</summary>
public sealed record TrainBenchSummary(string Preset, string Precision, int Rounds, double MeanTokensPerSecond, double RatioToFirst);

public static class TrainBenchmark
{
    public static TrainBenchResult Run(string preset, ModelConfig cfg, string precision, int steps, int warmup, int batchSize,
        double peakGflops, string device = "cpu", int seed = 0)
    {
        var tc = new TrainConfig
        {
            Steps = steps + warmup, BatchSize = batchSize, Precision = precision, WarmupSteps = 0, Device = device, Seed = seed,
        }.Validate();
        int seqLen = cfg.MaxPositionEmbeddings;
        var dev = new Device(device);
        using var model = new Transformer(cfg, seed);
        model.to(dev);
        TrainingPrecision.Apply(model, precision);
        using var optimizer = AdamW.Flat(model, tc);
        var stepper = new TrainStep(model, optimizer, tc, seqLen, dev);
        var rng = new Random(seed);
        void Fill(int _)
        {
            for (int i = 0; i < stepper.Inputs.Length; i++) { stepper.Inputs[i] = rng.Next(cfg.VocabSize); stepper.Targets[i] = rng.Next(cfg.VocabSize); }
        }
        for (int i = 0; i < warmup; i++) stepper.Run(1e-4, Fill);
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < steps; i++) stepper.Run(1e-4, Fill);
        double seconds = clock.Elapsed.TotalSeconds;
        var cost = ModelCost.Of(cfg, seqLen);
        double tps = (double)stepper.TokensPerStep * steps / seconds;
        double gflops = tps * cost.PretrainingFlopsPerToken / 1e9;
        var saved = precision == "fp8" ? Fp8SavedInputs.Measure(() => stepper.Run(1e-4, Fill)) : null;   // untimed
        return new TrainBenchResult(preset, precision, batchSize, seqLen, steps, tps, seconds * 1000 / steps,
            cost.PretrainingFlopsPerToken, gflops, peakGflops, gflops / peakGflops, cost.TotalParams, cost.ActiveParams, MallocTuning.Active)
            { Fp8Saved = saved };
    }

    /// <summary>
    /// Means per (preset, precision) over rounds, each compared with the first preset at the same
    /// precision. Rounds alternate presets, so slow phases of a noisy machine hit every preset alike.
    /// </summary>
    public static IReadOnlyList<TrainBenchSummary> Summarize(IReadOnlyList<TrainBenchResult> results)
    {
        var first = results.Count > 0 ? results[0].Preset : "";
        var groups = results.GroupBy(r => (r.Preset, r.Precision)).ToList();
        double Mean(string preset, string precision) =>
            results.Where(r => r.Preset == preset && r.Precision == precision).Select(r => r.TokensPerSecond).DefaultIfEmpty(double.NaN).Average();
        return groups.Select(g => new TrainBenchSummary(g.Key.Preset, g.Key.Precision, g.Count(), g.Average(r => r.TokensPerSecond),
            g.Average(r => r.TokensPerSecond) / Mean(first, g.Key.Precision))).ToList();
    }

    /// <summary>Measured matmul peaks (GFLOP/s) for fp32 and bf16.</summary>
    public static (double Fp32, double Bf16) MeasurePeaks(int n = 2048) =>
        (MatmulPeak.Measure(ScalarType.Float32, n), MatmulPeak.Measure(ScalarType.BFloat16, n));
}
