using SeekSharp.Data;
using SeekSharp.Data.Synthetic;
using SeekSharp.Tokenization;

namespace SeekSharp.Tests.Training;

/// <summary>A small real dataset (synthetic corpus → BPE → shards) built once and shared by the training tests.</summary>
public sealed class TinyDataset : IDisposable
{
    readonly TempDir root = new();
    public string DataDir { get; }
    public string TokenizerDir { get; }

    public TinyDataset()
    {
        var corpus = SyntheticCorpus.Write(Path.Combine(root.Path, "corpus.jsonl"), 600, seed: 3);
        TokenizerDir = Path.Combine(root.Path, "tok");
        TokenizerTraining.Run([corpus], 300, TokenizerDir);
        DataDir = Path.Combine(root.Path, "data");
        DatasetBuilder.Tokenize([corpus], TokenizerDir, DataDir, valFraction: 0.1);
    }

    /// <summary>A pretraining config that runs in seconds on this data; tests vary it with `with`.</summary>
    public static readonly SeekSharp.Training.TrainConfig Fast = new()
    {
        Steps = 6, BatchSize = 4, SeqLen = 32, Precision = "fp32", WarmupSteps = 2, EvalEvery = 3, EvalBatches = 1,
        CheckpointEvery = 3, KeepCheckpoints = 5, BiasUpdateSpeed = 0.01,
    };

    public string NewRunDir() => Path.Combine(root.Path, "runs", Guid.NewGuid().ToString("N"));

    public void Dispose() => root.Dispose();
}
