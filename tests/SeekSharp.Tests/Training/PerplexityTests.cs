using System.Text;
using System.Text.Json;
using SeekSharp.Checkpoints;
using SeekSharp.Data;
using SeekSharp.Data.Synthetic;
using SeekSharp.Modeling;
using SeekSharp.Tests.Cli;
using SeekSharp.Tests.Modeling;
using SeekSharp.Tests.Tokenization;
using SeekSharp.Tokenization;
using SeekSharp.Training;
using static TorchSharp.torch;

namespace SeekSharp.Tests.Training;

/// <summary>A tiny model pretrained for a few steps on tiny data, and the same corpus tokenized by another tokenizer.</summary>
public sealed class TinyTrainedModel : IDisposable
{
    readonly TempDir root = new();
    public string DataDir { get; }
    public string RunDir { get; }
    public string OtherTokenizerData { get; }
    public PretrainResult Result { get; }
    public static readonly TrainConfig Train = new()
    {
        Steps = 6, BatchSize = 4, SeqLen = 32, Precision = "fp32", WarmupSteps = 2, EvalEvery = 3, EvalBatches = 2, CheckpointEvery = 3,
    };

    public TinyTrainedModel()
    {
        var corpus = SyntheticCorpus.Write(Path.Combine(root.Path, "corpus.jsonl"), 400, seed: 5);
        var tok = Path.Combine(root.Path, "tok");
        TokenizerTraining.Run([corpus], 300, tok);
        DataDir = Path.Combine(root.Path, "data");
        DatasetBuilder.Tokenize([corpus], tok, DataDir, valFraction: 0.1);
        RunDir = Path.Combine(root.Path, "run");
        Result = Pretrainer.Run(new PretrainOptions(DataDir, RunDir, TestModels.Mla() with { MaxPositionEmbeddings = 32 }, Train));
        var other = Path.Combine(root.Path, "other-tok");
        TokenizerFixture.Tokenizer.Save(other);
        OtherTokenizerData = Path.Combine(root.Path, "other-data");
        DatasetBuilder.Tokenize([corpus], other, OtherTokenizerData, valFraction: 0.1);
    }

    public string NewDir() => Path.Combine(root.Path, Guid.NewGuid().ToString("N"));

    public void Dispose() => root.Dispose();
}

[Collection("Console")] // CliTests.Run redirects Console.Out
public class PerplexityTests(TinyTrainedModel t) : IClassFixture<TinyTrainedModel>
{
    static readonly PerplexityOptions RunWindows = new(BatchSize: TinyTrainedModel.Train.BatchSize, SeqLen: TinyTrainedModel.Train.SeqLen,
        Batches: TinyTrainedModel.Train.EvalBatches, Precision: "fp32");

    [Fact]
    public void OnTheRunsWindowsTheLossIsTheRunsFinalValLoss()
    {
        var r = Perplexity.RunFolder(t.RunDir, t.DataDir, RunWindows);
        Assert.NotNull(t.Result.FinalValLoss);
        Assert.Equal(t.Result.FinalValLoss!.Value, r.Totals.Loss, 1e-9);
        Assert.Equal(2 * 4 * 32, r.Totals.Tokens);
        Assert.Equal(Math.Exp(r.Totals.Loss), r.Totals.Perplexity, 1e-12);
        // The val_loss the run logged at its last step is the same number.
        var last = SeekSharp.Ledger.MetricsLog.Read(Path.Combine(t.RunDir, "metrics.jsonl"))[^1];
        Assert.Equal((double)last["val_loss"]!, r.Totals.Loss, 1e-6);
        // A checkpoint folder is a model folder too: the last one holds the final weights, the first others.
        var checkpoints = Directory.GetDirectories(Path.Combine(t.RunDir, "checkpoints")).Order().ToArray();
        Assert.Equal(2, checkpoints.Length);
        Assert.Equal(r.Totals.Loss, Perplexity.RunFolder(checkpoints[1], t.DataDir, RunWindows).Totals.Loss);
        Assert.NotEqual(r.Totals.Loss, Perplexity.RunFolder(checkpoints[0], t.DataDir, RunWindows).Totals.Loss);
    }

    [Fact]
    public void TheLossIsTheMeanOverTargetsOfMinusLogSoftmaxComputedDirectly()
    {
        var r = Perplexity.RunFolder(t.RunDir, t.DataDir, RunWindows);
        // Window by window, from the split's start: inputs tokens[s, s+T), targets tokens[s+1, s+T+1), s = 0, T, 2T, ...
        using var ds = TokenDataset.Open(t.DataDir);
        using var model = ModelFiles.Load(t.RunDir);
        var tok = BpeTokenizer.Load(t.RunDir);
        const int T = 32;
        double nats = 0;
        long bytes = 0;
        var targets = new List<int>();
        using (no_grad())
            for (int w = 0; w < 8; w++)
            {
                var window = new int[T + 1];
                ds.Val.Read((long)w * T, window);
                using var logits = model.Forward(tensor(window[..T].Select(x => (long)x).ToArray()).unsqueeze(0)).Logits;
                var logp = nn.functional.log_softmax(logits.squeeze(0).to_type(ScalarType.Float64), 1).data<double>().ToArray();
                for (int i = 0; i < T; i++) nats -= logp[i * model.Config.VocabSize + window[i + 1]];
                targets.AddRange(window[1..]);
            }
        // Bits per byte by hand: the targets' text is their decoded bytes, special tokens none.
        bytes = Encoding.UTF8.GetByteCount(tok.Decode(targets.ToArray(), skipSpecial: true));
        Assert.Equal(nats / (8 * T), r.Totals.Loss, 1e-5);
        Assert.Equal(bytes, r.Totals.Bytes);
        Assert.Equal(r.Totals.Nats / Math.Log(2) / bytes, r.Totals.BitsPerByte, 1e-12);
        Assert.Equal(nats / Math.Log(2) / bytes, r.Totals.BitsPerByte, 1e-5);
        Assert.Contains(targets, id => tok.IsSpecial(id)); // the case covers a document boundary
    }

    [Fact]
    public void BitsPerByteByHand()
    {
        // 3 tokens, 6 ln 2 nats, 4 bytes: 2 ln 2 nats/token, perplexity 4, 6 bits over 4 bytes = 1.5 bits/byte.
        var totals = new PerplexityTotals(6 * Math.Log(2), 3, 4, 1);
        Assert.Equal(2 * Math.Log(2), totals.Loss, 1e-15);
        Assert.Equal(4, totals.Perplexity, 1e-12);
        Assert.Equal(1.5, totals.BitsPerByte, 1e-15);
        // A token's bytes are those of its UTF-8 text: "héllo ✓" is 10 bytes however it is split; <|bos|> and <|eos|> none.
        var tok = TokenizerFixture.Tokenizer;
        var table = Perplexity.TokenBytes(tok);
        int[] ids = [tok.BosId, .. tok.Encode("héllo ✓"), tok.EosId];
        Assert.Equal(10, ids.Sum(id => table[id]));
        Assert.Equal(0, table[tok.BosId] + table[tok.EosId]);
    }

    [Fact]
    public void EvalPplPrintsLossPerplexityAndBitsPerByte()
    {
        var (code, output) = CliTests.Run("eval", "ppl", "--model", t.RunDir, "--data", t.DataDir, "--precision", "fp32");
        Assert.True(code == 0, output);
        foreach (var s in new[] { "loss", "nats/token", "perplexity", "bits/byte", "bytes of text", "consecutive from the start" }) Assert.Contains(s, output);

        // Defaults: windows of the model's context (32), 8 per batch, up to 64 batches (the whole val split here).
        (code, output) = CliTests.Run("eval", "ppl", "--model", t.RunDir, "--data", t.DataDir, "--precision", "fp32", "--json");
        Assert.True(code == 0, output);
        using var json = JsonDocument.Parse(output);
        var o = json.RootElement;
        using var ds = TokenDataset.Open(t.DataDir);
        long batches = Math.Min(64, (ds.ValTokens - 1) / 32 / 8);
        Assert.True(batches >= 2, $"val split of {ds.ValTokens} tokens");
        Assert.Equal(32, o.GetProperty("seq_len").GetInt32());
        Assert.Equal(8, o.GetProperty("batch_size").GetInt32());
        Assert.Equal(batches, o.GetProperty("batches").GetInt64());
        Assert.Equal(batches * 8 * 32, o.GetProperty("tokens").GetInt64());
        Assert.Equal(ds.ValTokens, o.GetProperty("split_tokens").GetInt64());
        var loss = o.GetProperty("loss").GetDouble();
        Assert.Equal(Math.Exp(loss), o.GetProperty("perplexity").GetDouble(), 1e-9);
        Assert.Equal(o.GetProperty("nats").GetDouble() / Math.Log(2) / o.GetProperty("bytes").GetInt64(), o.GetProperty("bits_per_byte").GetDouble(), 1e-12);
        var lib = Perplexity.RunFolder(t.RunDir, t.DataDir, new PerplexityOptions(Precision: "fp32"));
        Assert.Equal(lib.Totals.Loss, loss);

        // The run's windows through the CLI: the run's final val loss. bf16 (the default) is close to it, not equal.
        (code, output) = CliTests.Run("eval", "ppl", "--model", t.RunDir, "--data", t.DataDir, "--batch-size", "4", "--seq-len", "32", "--batches", "2",
            "--precision", "fp32", "--json");
        Assert.True(code == 0, output);
        using (var run = JsonDocument.Parse(output)) Assert.Equal(t.Result.FinalValLoss!.Value, run.RootElement.GetProperty("loss").GetDouble(), 1e-9);
        (code, output) = CliTests.Run("eval", "ppl", "--model", t.RunDir, "--data", t.DataDir, "--batch-size", "4", "--seq-len", "32", "--batches", "2", "--json");
        Assert.True(code == 0, output);
        using (var bf16 = JsonDocument.Parse(output))
        {
            Assert.Equal("bf16", bf16.RootElement.GetProperty("precision").GetString());
            Assert.Equal(t.Result.FinalValLoss!.Value, bf16.RootElement.GetProperty("loss").GetDouble(), 0.05);
        }

        // --split train scores the other split, on its own windows.
        (code, output) = CliTests.Run("eval", "ppl", "--model", t.RunDir, "--data", t.DataDir, "--split", "train", "--batches", "1", "--json");
        Assert.True(code == 0, output);
        using (var train = JsonDocument.Parse(output)) Assert.Equal(ds.TrainTokens, train.RootElement.GetProperty("split_tokens").GetInt64());
    }

    static string OneErrorLine(int code, string output)
    {
        Assert.Equal(1, code);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return Assert.Single(lines, l => l.StartsWith("error:"));
    }

    [Fact]
    public void ADatasetOfAnotherTokenizerIsOneErrorLine()
    {
        var (code, output) = CliTests.Run("eval", "ppl", "--model", t.RunDir, "--data", t.OtherTokenizerData);
        var line = OneErrorLine(code, output);
        Assert.Contains(Path.Combine(t.OtherTokenizerData, "dataset.json"), line);
        Assert.Contains("tokenizer", line);
        Assert.Contains(BpeTokenizer.Load(t.RunDir).Hash, line);
        Assert.Single(output.Split('\n', StringSplitOptions.RemoveEmptyEntries));   // and nothing else
    }

    [Fact]
    public void BadInputIsOneErrorLineNamingTheFieldOrFlag()
    {
        // A model whose vocabulary is smaller than the dataset's (same tokenizer files beside it).
        var small = t.NewDir();
        using (var m = new Transformer(TestModels.Mla() with { MaxPositionEmbeddings = 32, VocabSize = 200 })) ModelFiles.Save(small, m);
        BpeTokenizer.CopyFiles(t.RunDir, small);
        var (code, output) = CliTests.Run("eval", "ppl", "--model", small, "--data", t.DataDir);
        Assert.Contains("vocab_size 300 exceeds the model's vocab_size 200", OneErrorLine(code, output));

        (code, output) = CliTests.Run("eval", "ppl", "--model", t.RunDir, "--data", t.DataDir, "--seq-len", "33");
        Assert.Contains("--seq-len: 33 exceeds the model's context (max_position_embeddings 32", OneErrorLine(code, output));
        (code, output) = CliTests.Run("eval", "ppl", "--model", t.RunDir, "--data", t.DataDir, "--batch-size", "0");
        Assert.Contains("--batch-size: expected 1 or more", OneErrorLine(code, output));
        (code, output) = CliTests.Run("eval", "ppl", "--model", t.RunDir, "--data", t.DataDir, "--batch-size", "1000");
        Assert.Contains("The val split has", OneErrorLine(code, output));
        (code, output) = CliTests.Run("eval", "ppl", "--model", t.RunDir, "--data", t.DataDir, "--split", "test");
        Assert.Contains("'test'", OneErrorLine(code, output));
        (code, output) = CliTests.Run("eval", "ppl", "--model", t.RunDir, "--data", t.DataDir, "--precision", "fp16");
        Assert.Contains("'fp16' not recognized", OneErrorLine(code, output));
        var missing = Path.Combine(t.NewDir(), "none");
        (code, output) = CliTests.Run("eval", "ppl", "--model", t.RunDir, "--data", missing);
        Assert.Contains(missing, OneErrorLine(code, output));
    }
}
