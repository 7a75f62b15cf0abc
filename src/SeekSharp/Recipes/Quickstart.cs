using SeekSharp.Checkpoints;
using SeekSharp.Data;
using SeekSharp.Data.Synthetic;
using SeekSharp.Inference;
using SeekSharp.Ledger;
using SeekSharp.Modeling;
using SeekSharp.Reports;
using SeekSharp.Tokenization;
using SeekSharp.Training;

namespace SeekSharp.Recipes;

// The main job end to end, on a laptop-sized budget: a synthetic corpus (arithmetic with worked
// solutions + templated English), a BPE tokenizer trained on it, shards, pretraining of the `tiny`
// MoE+MLA preset, a few sampled continuations, and a run folder with checkpoint, metrics, ledger and
// report. Every stage is the same library call its own CLI command makes; folders connect them.

/// <summary>Quickstart settings; the defaults finish in a few minutes on 2 CPU cores.</summary>
public sealed record QuickstartOptions
{
    /// <summary>Output folder; gets corpus/, tokenizer/, data/ and run/.</summary>
    public string OutDir { get; init; } = "quickstart";
    /// <summary>Model preset to pretrain.</summary>
    public string Preset { get; init; } = "tiny";
    /// <summary>Synthetic documents to generate.</summary>
    public int Documents { get; init; } = 30_000;
    /// <summary>Tokenizer vocabulary (bytes + merges + specials).</summary>
    public int Vocab { get; init; } = 1024;
    /// <summary>Pretraining steps.</summary>
    public int Steps { get; init; } = 600;
    /// <summary>Sequences per step.</summary>
    public int BatchSize { get; init; } = 16;
    /// <summary>"bf16" or "fp32".</summary>
    public string Precision { get; init; } = "bf16";
    /// <summary>Seed for data, initialization and sampling.</summary>
    public int Seed { get; init; } = 1337;
    /// <summary>Torch device.</summary>
    public string Device { get; init; } = "cpu";
}

/// <summary>A prompt and what the model wrote after it.</summary>
public sealed record Sample(string Prompt, string Completion);

public sealed record QuickstartResult(string OutDir, string RunDir, TokenizerTrainReport Tokenizer, TokenizationReport Data,
    PretrainResult Pretrain, IReadOnlyList<Sample> Samples);

public static class Quickstart
{
    public static readonly string[] Prompts = ["Problem: What is 27 + 58?\nSolution:", "The old sailor", "When the teacher"];

    public static QuickstartResult Run(QuickstartOptions o, ITrainingObserver? observer = null)
    {
        void Say(string m) => observer?.OnMessage(m);
        var corpus = Path.Combine(o.OutDir, "corpus", "synthetic.jsonl");
        Say($"[1/5] generating {o.Documents:N0} synthetic documents -> {corpus}");
        SyntheticCorpus.Write(corpus, o.Documents, o.Seed);

        var tokDir = Path.Combine(o.OutDir, "tokenizer");
        Say($"[2/5] training a {o.Vocab}-token byte-level BPE tokenizer -> {tokDir}");
        var tok = TokenizerTraining.Run([corpus], o.Vocab, tokDir);

        var dataDir = Path.Combine(o.OutDir, "data");
        Say($"[3/5] tokenizing into shards -> {dataDir}");
        var data = DatasetBuilder.Tokenize([corpus], tokDir, dataDir);

        var runDir = Path.Combine(o.OutDir, "run");
        Say($"[4/5] pretraining preset '{o.Preset}' for {o.Steps} steps -> {runDir}");
        var tc = new TrainConfig
        {
            Steps = o.Steps, BatchSize = o.BatchSize, Precision = o.Precision, Seed = o.Seed, Device = o.Device,
            WarmupSteps = Math.Min(30, o.Steps / 10), EvalEvery = Math.Max(1, o.Steps / 10), CheckpointEvery = Math.Max(1, o.Steps / 2),
            BiasUpdateSpeed = 0.01,
        };
        var pre = Pretrainer.Run(new PretrainOptions(dataDir, runDir, Presets.Get(o.Preset), tc), observer);

        Say("[5/5] sampling continuations");
        var samples = SampleRun(runDir, Prompts, 40, o.Seed);
        RunReport.Write(runDir, "Quickstart pretraining", samples.Select(s => (s.Prompt, s.Completion)).ToList());
        // The corpus, tokenizer and shards the quickstart made beside the run belong to its bill too.
        LedgerEntry.RecordStorage(Path.Combine(runDir, "ledger.json"), [(corpus, StorageKind.Data), (tokDir, StorageKind.Other), (dataDir, StorageKind.Data)]);
        return new QuickstartResult(o.OutDir, runDir, tok, data, pre, samples);
    }

    /// <summary>Greedy-ish continuations (temperature 0.7) of each prompt from a run folder.</summary>
    public static IReadOnlyList<Sample> SampleRun(string runDir, IEnumerable<string> prompts, int maxTokens, int seed)
    {
        var tok = BpeTokenizer.Load(runDir);
        using var model = ModelFiles.Load(runDir);
        var gen = new TokenGenerator(model);
        var stop = new HashSet<int> { tok.EosId };
        return prompts.Select(p =>
        {
            var ids = new List<int> { tok.BosId };
            ids.AddRange(tok.Encode(p));
            var outIds = gen.Generate(ids, maxTokens, new SamplingOptions(0.7, 0.95), seed, stop).ToArray();
            return new Sample(p, tok.Decode(outIds));
        }).ToList();
    }
}
