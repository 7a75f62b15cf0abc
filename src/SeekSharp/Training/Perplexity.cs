using SeekSharp.Checkpoints;
using SeekSharp.Data;
using SeekSharp.Modeling;
using SeekSharp.Tokenization;
using static TorchSharp.torch;

namespace SeekSharp.Training;

// Held-out quality as one number per model: the next-token cross-entropy summed over a fixed set of
// windows (TokenBatchSampler.Sequential: consecutive, non-overlapping, from the split's start, full
// batches only), so a quantized or pruned model is scored on exactly the tokens its parent was. The
// same pass is pretraining's validation, so `seek eval ppl` with the run's batch size, sequence length
// and eval_batches reproduces the val_loss the run logged. Sums, not batch means, so the loss is the
// mean over tokens whatever the batch count. Bits per byte divide the same nats by the UTF-8 bytes the
// target tokens decode to with the tokenizer (datasets store no byte counts); special tokens (<|bos|>,
// <|eos|>) are no text, count 0 bytes, and their loss still counts: predicting a document's end is part
// of modelling the text.

/// <summary>What one pass over the windows measured: total nats over <see cref="Tokens"/> target tokens that
/// decode to <see cref="Bytes"/> UTF-8 bytes (0 when no byte table was given).</summary>
public sealed record PerplexityTotals(double Nats, long Tokens, long Bytes, int Batches)
{
    /// <summary>Mean cross-entropy per target token, in nats.</summary>
    public double Loss => Tokens == 0 ? double.NaN : Nats / Tokens;
    public double Perplexity => Math.Exp(Loss);
    public double BitsPerByte => Bytes == 0 ? double.NaN : Nats / Math.Log(2) / Bytes;
}

/// <summary>Which windows of which split `seek eval ppl` scores, and how.</summary>
/// <param name="BatchSize">windows per forward; null = 8, or fewer when the split holds fewer windows</param>
/// <param name="SeqLen">window length; 0 = the model's context (max_position_embeddings)</param>
/// <param name="Batches">batches at most; 0 = every full batch of the split</param>
public sealed record PerplexityOptions(string Split = "val", int? BatchSize = null, int SeqLen = 0, int Batches = 64,
    string Precision = "bf16", string Device = "cpu")
{
    public const int DefaultBatchSize = 8;
}

/// <summary>A model folder scored on a token dataset.</summary>
public sealed record PerplexityReport(string Model, string Data, string Split, long SplitTokens, string Precision,
    int BatchSize, int SeqLen, PerplexityTotals Totals);

public static class Perplexity
{
    /// <summary>Cross-entropy over the first <paramref name="maxBatches"/> (&lt;= 0: all) batches of consecutive windows.</summary>
    /// <param name="tokenBytes">UTF-8 bytes per token id (<see cref="TokenBytes"/>), or null to count none</param>
    public static PerplexityTotals Measure(Transformer model, TokenBatchSampler split, int batchSize, int seqLen, int maxBatches,
        Device device, int[]? tokenBytes = null)
    {
        using var _ = no_grad();
        double nats = 0;
        long tokens = 0, bytes = 0;
        int batches = 0;
        foreach (var (inp, tgt) in split.Sequential(batchSize, seqLen, maxBatches))
        {
            using var scope = NewDisposeScope();
            int rows = inp.Length / seqLen;
            var (logits, _) = model.Forward(tensor(inp, [rows, seqLen]).to(device));   // (B, T, V) in fp32
            nats += nn.functional.cross_entropy(logits.view(-1, model.Config.VocabSize), tensor(tgt).to(device),
                reduction: nn.Reduction.Sum).item<float>();
            tokens += tgt.Length;
            if (tokenBytes is not null) foreach (var t in tgt) bytes += tokenBytes[t];
            batches++;
        }
        return new PerplexityTotals(nats, tokens, bytes, batches);
    }

    /// <summary>The UTF-8 bytes each id decodes to; 0 for special tokens, which are no text.</summary>
    public static int[] TokenBytes(BpeTokenizer tok)
    {
        var bytes = new int[tok.VocabSize];
        for (int id = 0; id < bytes.Length; id++) bytes[id] = tok.IsSpecial(id) ? 0 : tok.DecodeBytes([id]).Length;
        return bytes;
    }

    /// <summary>The model folder's tokenizer and config (read before any weights), after checking that the dataset
    /// <paramref name="ds"/> was tokenized with that tokenizer and fits its vocabulary; errors name dataset.json.</summary>
    /// <param name="use">What the error advises doing with matching data ("evaluate on", "calibrate on").</param>
    public static (BpeTokenizer Tokenizer, ModelConfig Config) CheckDataset(string modelDir, TokenDataset ds, string use)
    {
        var tok = BpeTokenizer.Load(modelDir);
        var manifest = Path.Combine(ds.Directory, DatasetManifest.FileName);
        if (tok.Hash != ds.TokenizerHash)
            throw new SeekSharpException($"{manifest}: the dataset was tokenized with tokenizer {ds.TokenizerHash}, but {Path.Combine(modelDir, "tokenizer.json")} is {tok.Hash}; "
                + $"{use} data tokenized with the model's tokenizer (`seek data tokenize --tokenizer MODEL_DIR`).");
        var cfgPath = Path.Combine(modelDir, ModelFiles.ConfigFile);
        var cfg = ModelConfig.Load(cfgPath);
        if (ds.VocabSize > cfg.VocabSize)
            throw new SeekSharpException($"{manifest}: vocab_size {ds.VocabSize} exceeds the model's vocab_size {cfg.VocabSize} ({cfgPath}).");
        return (tok, cfg);
    }

    /// <summary>Scores the model folder <paramref name="modelDir"/> (a run, model or checkpoint folder with its tokenizer)
    /// on a split of the dataset <paramref name="dataDir"/>, after checking that both use one tokenizer.</summary>
    public static PerplexityReport RunFolder(string modelDir, string dataDir, PerplexityOptions o)
    {
        if (o.Precision is not ("bf16" or "fp32")) throw new SeekSharpException($"--precision: expected bf16 or fp32, got \"{o.Precision}\".");
        if (o.Split is not ("val" or "train")) throw new SeekSharpException($"--split: expected val or train, got \"{o.Split}\".");
        if (o.BatchSize is <= 0) throw new SeekSharpException($"--batch-size: expected 1 or more, got {o.BatchSize}.");
        if (o.SeqLen < 0) throw new SeekSharpException($"--seq-len: expected 1 or more (or 0 for the model's context), got {o.SeqLen}.");
        if (o.Batches < 0) throw new SeekSharpException($"--batches: expected 0 (the whole split) or more, got {o.Batches}.");
        using var ds = TokenDataset.Open(dataDir);
        var cfgPath = Path.Combine(modelDir, ModelFiles.ConfigFile);
        var (tok, cfg) = CheckDataset(modelDir, ds, "evaluate on");
        int seqLen = o.SeqLen == 0 ? cfg.MaxPositionEmbeddings : o.SeqLen;
        if (seqLen > cfg.MaxPositionEmbeddings)
            throw new SeekSharpException($"--seq-len: {seqLen} exceeds the model's context (max_position_embeddings {cfg.MaxPositionEmbeddings} in {cfgPath}).");
        var split = ds.Split(o.Split);
        long windows = Math.Max(0, (split.Count - 1) / seqLen);
        int batchSize = o.BatchSize ?? (int)Math.Clamp(windows, 1, PerplexityOptions.DefaultBatchSize);

        var device = new Device(o.Device);
        using var model = ModelFiles.Load(modelDir, device);
        model.SetComputeType(Transformer.ComputeTypeOf(o.Precision));
        model.eval();
        model.Freeze();   // the weights stay put: cast them once, not at every batch
        var totals = Measure(model, new TokenBatchSampler(split), batchSize, seqLen, o.Batches, device, TokenBytes(tok));
        return new PerplexityReport(modelDir, dataDir, o.Split, split.Count, o.Precision, batchSize, seqLen, totals);
    }
}
