using SeekSharp.Alignment;
using SeekSharp.Checkpoints;
using SeekSharp.Ledger;
using SeekSharp.Modeling;
using SeekSharp.Tokenization;
using SeekSharp.Training;
using static TorchSharp.torch;

namespace SeekSharp.Tests.Alignment;

public class SftTests(ChatModelFolder folder) : IClassFixture<ChatModelFolder>
{
    static readonly TrainConfig Fast = SftConfig.DefaultTrain with
    {
        Steps = 12, BatchSize = 8, LearningRate = 1e-2, WarmupSteps = 2, EvalEvery = 6, EvalBatches = 1, Precision = "fp32",
    };

    sealed class Recorder : ITrainingObserver
    {
        public List<double> Losses { get; } = [];
        public void OnStep(StepMetrics m) => Losses.Add(m.Loss);
    }

    [Fact]
    public void LossIsTakenOnAssistantTokensOnly()
    {
        var tok = folder.Tokenizer;
        ChatMessage[] a = [new("user", "what is one plus one"), new("assistant", "two")];
        ChatMessage[] b = [new("system", "be terse"), new("user", "hi"), new("assistant", "<think>greet</think>hello"), new("user", "bye"), new("assistant", "ciao")];
        var rows = new[] { a, b }.Select(m => { var (ids, mask) = ChatTemplate.EncodeChat(tok, m); return new ChatTokens(ids, mask); }).ToList();
        var batch = ChatBatch.Collate(rows, tok.PadId, folder.Config.MaxPositionEmbeddings);

        // Targets: exactly the assistant tokens (content + closing eos), each predicted from the position before it.
        Assert.Equal(rows.Sum(r => r.AssistantTokens), batch.LossTokens);
        Assert.Equal(rows.Sum(r => r.Ids.Length - 1), batch.Tokens);
        for (int r = 0; r < 2; r++)
            for (int t = 0; t < batch.Length; t++)
            {
                long target = batch.Targets[r * batch.Length + t];
                bool assistant = t + 1 < rows[r].Ids.Length && rows[r].Mask[t + 1];
                Assert.Equal(assistant ? rows[r].Ids[t + 1] : LmLoss.Ignore, target);
            }

        using var model = new Transformer(folder.Config, seed: 3);
        using var scope = NewDisposeScope();
        var (logits, _) = model.Forward(tensor(batch.Inputs, [batch.Rows, batch.Length]));
        var logp = logits.log_softmax(-1);
        double manual = 0, everything = 0;
        for (int r = 0; r < 2; r++)
            for (int t = 0; t + 1 < rows[r].Ids.Length; t++)
            {
                double nll = -logp[r, t, rows[r].Ids[t + 1]].item<float>();
                everything += nll;
                if (rows[r].Mask[t + 1]) manual += nll;
            }
        double loss = LmLoss.Sum(logits, tensor(batch.Targets)).item<float>();
        Assert.Equal(manual, loss, 3);
        Assert.True(everything > loss + 1, "the prompt tokens would have added loss");

        // Right padding changes nothing for the shorter conversation: its logits equal those it gets alone.
        var alone = model.Forward(tensor(rows[0].Ids.Take(rows[0].Ids.Length - 1).Select(i => (long)i).ToArray()).unsqueeze(0)).Logits;
        var padded = logits[0].narrow(0, 0, rows[0].Ids.Length - 1);
        Assert.True(alone[0].allclose(padded, rtol: 1e-4, atol: 1e-5));
    }

    [Fact]
    public void AFewStepsLearnATriviallyLearnableSetAndWriteAModelFolder()
    {
        var outDir = folder.NewDir();
        var rec = new Recorder();
        var r = SftTrainer.Run(new SftConfig { ModelDir = folder.ModelDir, DataPath = folder.PingPong(), OutDir = outDir, ValFraction = 0.1, Train = Fast }, rec);

        Assert.Equal(12, rec.Losses.Count);
        Assert.True(rec.Losses[^1] < rec.Losses[0] * 0.5, $"loss {rec.Losses[0]:F3} -> {rec.Losses[^1]:F3}");
        Assert.Equal(2, r.ValExamples);
        Assert.True(r.FinalValLoss < rec.Losses[0] * 0.5, $"val loss {r.FinalValLoss}");
        foreach (var f in new[] { "config.json", "model.safetensors", "tokenizer.json", "metrics.jsonl", "ledger.json", "report.md", "loss.png", SftTrainer.ConfigFile })
            Assert.True(File.Exists(Path.Combine(outDir, f)), f);
        Assert.Equal(folder.Config.ToJson(), ModelConfig.Load(Path.Combine(outDir, "config.json")).ToJson());
        Assert.Equal("sft", LedgerEntry.Read(Path.Combine(outDir, "ledger.json")).Kind);
        var metrics = MetricsLog.Read(Path.Combine(outDir, MetricsLog.FileName));
        Assert.Equal(2, metrics.Count(m => m["val_loss"] is not null));
        Assert.True(metrics.All(m => m["assistant_tokens"] is not null));
        using var _ = ModelFiles.Load(outDir);

        var e = Assert.Throws<SeekSharpException>(() => SftTrainer.Run(new SftConfig { ModelDir = folder.ModelDir, DataPath = folder.PingPong(), OutDir = outDir, Train = Fast }));
        Assert.Contains("already holds", e.Message);
    }

    [Fact]
    public void EpochsSetTheStepCount()
    {
        var r = SftTrainer.Run(new SftConfig
        {
            ModelDir = folder.ModelDir, DataPath = folder.PingPong(20), OutDir = folder.NewDir(), Epochs = 2, ValFraction = 0,
            Train = Fast with { BatchSize = 4 },
        });
        Assert.Equal(10, r.Steps);          // 2 × 20 records / 4 per step
        Assert.Equal(20, r.TrainExamples);
        Assert.Null(r.FinalValLoss);
    }
}

/// <summary>`chat sft --precision fp8`, full and LoRA (the frozen base's product in FP8, no weight gradient; the adapters'
/// own product in bf16): the loss falls, and ends close to the same run's in bf16.</summary>
public class SftFp8Tests(ChatModelFolder folder) : IClassFixture<ChatModelFolder>
{
    sealed class Recorder : ITrainingObserver
    {
        public List<double> Losses { get; } = [];
        public void OnStep(StepMetrics m) => Losses.Add(m.Loss);
    }

    List<double> Run(string precision, bool lora)
    {
        var rec = new Recorder();
        var tc = SftConfig.DefaultTrain with
        {
            Steps = 12, BatchSize = 8, LearningRate = 1e-2, WarmupSteps = 2, EvalEvery = 0, EvalBatches = 1, Precision = precision, WeightDecay = 0,
        };
        SftTrainer.Run(new SftConfig
        {
            ModelDir = folder.ModelDir, DataPath = folder.PingPong(), OutDir = folder.NewDir(), ValFraction = 0.1, Train = tc,
            Lora = lora ? new LoraConfig { Rank = 4 } : null,
        }, rec);
        return rec.Losses;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Fp8FineTuningLearnsLikeBf16(bool lora)
    {
        var fp8 = Run("fp8", lora);
        var bf16 = Run("bf16", lora);
        Assert.True(fp8[^1] < fp8[0] * 0.95, $"fp8 loss {fp8[0]:F3} -> {fp8[^1]:F3}");
        Assert.NotEqual(bf16[^1], fp8[^1]);
        Assert.True(Math.Abs(fp8[^1] - bf16[^1]) < 0.1 * bf16[^1], $"fp8 {fp8[^1]:F4} vs bf16 {bf16[^1]:F4}");
    }
}
