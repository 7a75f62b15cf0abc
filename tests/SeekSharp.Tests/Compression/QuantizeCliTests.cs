using SeekSharp.Checkpoints;
using SeekSharp.Tests.Cli;

namespace SeekSharp.Tests.Compression;

/// <summary>`seek quantize` and the --model commands on its output.</summary>
[Collection("Console")]
public class QuantizeCliTests : TempDirTest
{
    [Fact]
    public void QuantizePrintsBytesPerKindAndEveryModelCommandTakesTheFolder()
    {
        var parent = QuantizedModels.Save(NewDir());
        var outParent = NewDir();
        var q4 = Path.Combine(outParent, "q4");
        var (code, output) = CliTests.Run("quantize", "--model", parent, "--type", "q4_0", "--out", q4);
        Assert.True(code == 0, output);
        foreach (var kind in new[] { "attention", "dense MLP", "routed experts", "shared experts", "embeddings", "norms", "router", "total" })
            Assert.Contains(kind, output);
        Assert.Contains("kept: embeddings", output);
        Assert.Single(Directory.GetFileSystemEntries(outParent));               // no temporary folder left behind
        Assert.True(File.Exists(Path.Combine(q4, "tokenizer.json")));
        // The ledger shows the saving: the q4_0 weights as written beside the parent's as read.
        var storage = SeekSharp.Ledger.LedgerEntry.Read(Path.Combine(q4, "ledger.json")).Storage!;
        Assert.Equal(new FileInfo(Path.Combine(q4, ModelFiles.WeightsFile)).Length, storage.ByKind[SeekSharp.Ledger.StorageKind.Weights].WrittenBytes);
        Assert.Equal(new FileInfo(Path.Combine(parent, ModelFiles.WeightsFile)).Length, storage.Sources!.Sum(a => a.Bytes));
        Assert.True(storage.SavingRatio() < 0.5);
        Assert.Contains("storage:", output);

        (code, output) = CliTests.Run("generate", "--model", q4, "--prompt", "hello", "--max-tokens", "4", "--temperature", "0");
        Assert.True(code == 0, output);
        (code, output) = CliTests.Run("generate", "--model", q4, "--prompt", "hello", "--max-tokens", "4", "--temperature", "0", "--precision", "bf16");
        Assert.True(code == 0, output);

        // QLoRA: adapters on the frozen q4_0 base; the output folder is the merged model, re-quantized in q4_0.
        var data = Path.Combine(NewDir(), "chat.jsonl");
        File.WriteAllLines(data, Enumerable.Range(0, 12).Select(i =>
            $$"""{"messages":[{"role":"user","content":"ping {{i % 3}}"},{"role":"assistant","content":"pong"}]}"""));
        var sft = Path.Combine(NewDir(), "sft");
        (code, output) = CliTests.Run("chat", "sft", "--model", q4, "--data", data, "--lora", "4", "--steps", "2", "--batch-size", "2", "--out", sft);
        Assert.True(code == 0, output);
        Assert.True(File.Exists(Path.Combine(sft, "adapter", "adapter_config.json")));
        Assert.Contains("\"q4_0\"", File.ReadAllText(Path.Combine(sft, ModelFiles.ConfigFile)));
        using (var merged = ModelFiles.Load(sft)) Assert.True(merged.IsQuantized);

        (code, output) = CliTests.Run("chat", "sft", "--model", q4, "--data", data, "--steps", "1", "--out", Path.Combine(NewDir(), "full"));
        Assert.Equal(1, code);
        Assert.Contains("quantized", output);
        Assert.Contains("--lora", output);
    }

    [Fact]
    public void AShardedParentQuantizesIntoShardsAndTheBytesCountEveryShard()
    {
        var single = QuantizedModels.Save(NewDir());
        var parent = NewDir();
        using (var m = ModelFiles.Load(single)) ModelFiles.Save(parent, m, tokenizerFrom: single, maxShardBytes: 30_000);
        Assert.True(File.Exists(Path.Combine(parent, ModelFiles.IndexFile)));
        var q8 = Path.Combine(NewDir(), "q8");
        var (code, output) = CliTests.Run("quantize", "--model", parent, "--type", "q8_0", "--out", q8, "--max-shard-size", "20KB");
        Assert.True(code == 0, output);
        Assert.True(File.Exists(Path.Combine(q8, ModelFiles.IndexFile)), output);
        Assert.False(File.Exists(Path.Combine(q8, ModelFiles.WeightsFile)));
        using (var q = ModelFiles.Load(q8)) Assert.True(q.IsQuantized);
        var storage = SeekSharp.Ledger.LedgerEntry.Read(Path.Combine(q8, "ledger.json")).Storage!;
        Assert.Equal(ModelFiles.WeightBytes(parent), storage.Sources!.Sum(a => a.Bytes));
        Assert.Equal(ModelFiles.WeightBytes(q8), storage.ByKind[SeekSharp.Ledger.StorageKind.Weights].WrittenBytes);

        (code, output) = CliTests.Run("quantize", "--model", parent, "--type", "q8_0", "--out", Path.Combine(NewDir(), "x"), "--max-shard-size", "0");
        Assert.Equal(1, code);
        Assert.Contains("error: --max-shard-size:", output);
    }

    [Fact]
    public void BadArgumentsAndANonEmptyOutAreRefused()
    {
        var parent = QuantizedModels.Save(NewDir());
        var (code, output) = CliTests.Run("quantize", "--model", parent, "--type", "q5_k", "--out", Path.Combine(NewDir(), "x"));
        Assert.Equal(1, code);
        Assert.Contains("--type", output);

        var busy = NewDir();
        File.WriteAllText(Path.Combine(busy, "keep.txt"), "mine");
        (code, output) = CliTests.Run("quantize", "--model", parent, "--type", "q8_0", "--out", busy);
        Assert.Equal(1, code);
        Assert.Contains("not empty", output);
        Assert.Equal(["keep.txt"], Directory.GetFiles(busy).Select(Path.GetFileName));

        (code, output) = CliTests.Run("quantize", "--model", parent, "--type", "fp8", "--out", NewDir()); // an empty folder is fine
        Assert.True(code == 0, output);
    }
}
