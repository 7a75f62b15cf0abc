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
// run are meaningful. Warmup steps are excluded (first-touch allocation, oneDNN kernel selection).

/// <summary>One precision's measured training throughput.</summary>
public sealed record TrainBenchResult(
    string Preset, string Precision, int BatchSize, int SeqLen, int Steps,
    double TokensPerSecond, double MsPerStep, double TrainingFlopsPerToken, double AchievedGflops,
    double PeakGflops, double Utilization, long TotalParams, long ActiveParams, bool MallocTuned)
{
    /// <summary>Which alternation round produced this figure (1-based).</summary>
    public int Round { get; init; } = 1;
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
        double gflops = tps * cost.TrainingFlopsPerToken / 1e9;
        return new TrainBenchResult(preset, precision, batchSize, seqLen, steps, tps, seconds * 1000 / steps,
            cost.TrainingFlopsPerToken, gflops, peakGflops, gflops / peakGflops, cost.TotalParams, cost.ActiveParams, MallocTuning.Active);
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
