using SeekSharp.Alignment;
using SeekSharp.Checkpoints;
using SeekSharp.Ledger;
using SeekSharp.Training;
using static TorchSharp.torch;

namespace SeekSharp.Tests.Alignment;

public class RewardModelTests(ChatModelFolder folder) : IClassFixture<ChatModelFolder>
{
    static readonly TrainConfig Fast = RewardConfig.DefaultTrain with
    {
        Steps = 10, BatchSize = 4, LearningRate = 3e-3, WarmupSteps = 0, EvalEvery = 5, EvalBatches = 2, Precision = "fp32",
    };

    string Write(IEnumerable<string> lines)
    {
        var path = Path.Combine(folder.NewDir() + ".jsonl");
        File.WriteAllLines(path, lines);
        return path;
    }

    string Pairs(int n) => Write(Enumerable.Range(0, n).Select(i =>
        $$"""{"prompt":"what is {{i % 5}} plus {{i % 3}}","chosen":"<think>add</think><answer>{{i % 5 + i % 3}}</answer>","rejected":"I do not know"}"""));

    [Fact]
    public void PairAndLabelLossesMatchHandComputedValues()
    {
        // −log σ(2 − 1) = log(1 + e^−1) = 0.3132617; −log σ(0 − 1) = log(1 + e) = 1.3132617; mean 0.8132617.
        using var bt = RewardLoss.BradleyTerry(tensor(new[] { 2f, 0f }), tensor(new[] { 1f, 1f }));
        Assert.Equal(0.8132617, bt.item<float>(), 5);
        // label 1 at score 0: log 2 = 0.6931472; label 0 at score 2: log(1 + e²) = 2.1269280; mean 1.4100376.
        using var bce = RewardLoss.Bce(tensor(new[] { 0f, 2f }), tensor(new[] { 1f, 0f }));
        Assert.Equal(1.4100376, bce.item<float>(), 5);
    }

    [Fact]
    public void AFewStepsRaiseTheChosenOverRejectedMarginAndTheFolderLoadsBack()
    {
        var data = Pairs(24);
        var (records, objective) = RewardData.Read(data);
        Assert.Equal(RewardObjective.BradleyTerry, objective);
        float[] Margins(RewardModel rm) =>
            rm.Score(records.Select(r => r.Prompt).ToList(), records.Select(r => r.Chosen).ToList())
              .Zip(rm.Score(records.Select(r => r.Prompt).ToList(), records.Select(r => r.Rejected!).ToList()), (c, r) => c - r).ToArray();
        double before;
        using (var fresh = RewardModel.FromBase(folder.ModelDir, objective, seed: Fast.Seed)) before = Margins(fresh).Average();

        var outDir = folder.NewDir();
        DataOrigin.Write(data, DataOrigin.HumanLabelled, "preferences a person marked");
        var result = RewardTrainer.Run(new RewardConfig { ModelDir = folder.ModelDir, DataPath = data, OutDir = outDir, ValFraction = 0.2, Train = Fast });
        Assert.Equal(5, result.ValRecords);
        var source = Assert.Single(LedgerEntry.Read(Path.Combine(outDir, "ledger.json")).Data!.Sources);
        Assert.Equal((DataOrigin.HumanLabelled, 24L, new FileInfo(data).Length), (source.Origin, source.DocumentsRead!.Value, source.BytesRead!.Value));
        Assert.Equal(1.0, result.Ledger.Resources.Single(l => l.Quantity == "human-labelled share").Value);
        Assert.Equal(1.0, result.FinalValAccuracy);

        using var rm = RewardModel.Load(outDir);
        Assert.Equal("bradley_terry", rm.Info.Objective);
        var after = Margins(rm);
        Assert.True(after.Average() > before + 1, $"margin {before:F3} -> {after.Average():F3}");
        Assert.All(after, m => Assert.True(m > 0));
        foreach (var f in new[] { "config.json", "model.safetensors", "tokenizer.json", RewardModel.HeadFile, RewardModel.InfoFile, "metrics.jsonl", "ledger.json", "report.md" })
            Assert.True(File.Exists(Path.Combine(outDir, f)), f);

        // The id API: a completion with or without its closing <|eos|> scores the same; batching changes nothing.
        var p = rm.EncodePrompt(records[0].Prompt);
        var c = rm.EncodeCompletion(records[0].Chosen);
        var scores = rm.Score([p, p, rm.EncodePrompt(records[1].Prompt)], [c, [.. c, rm.Tokenizer.EosId], rm.EncodeCompletion(records[1].Rejected!)], batchSize: 2);
        Assert.Equal(scores[0], scores[1], 4);
        Assert.Equal(rm.Score([records[1].Prompt], [records[1].Rejected!])[0], scores[2], 4);
    }

    [Fact]
    public void VerifierLabelsTrainABinaryClassifier()
    {
        var data = Write(Enumerable.Range(0, 24).Select(i =>
            $$"""{"prompt":"q{{i % 6}}","completion":"{{(i % 2 == 0 ? "<answer>right</answer>" : "<answer>wrong</answer>")}}","label":{{(i % 2 == 0 ? "1" : "false")}}}"""));
        var outDir = folder.NewDir();
        var r = RewardTrainer.Run(new RewardConfig { ModelDir = folder.ModelDir, DataPath = data, OutDir = outDir, ValFraction = 0, Train = Fast });
        Assert.Equal(RewardObjective.BinaryCrossEntropy, r.Objective);
        using var rm = RewardModel.Load(outDir);
        var s = rm.Score(["q1", "q1"], ["<answer>right</answer>", "<answer>wrong</answer>"]);
        Assert.True(s[0] > 0 && s[1] < 0, $"scores {s[0]:F3} {s[1]:F3}");
    }

    [Theory]
    [InlineData("""{"prompt":"p","completion":"c","label":1}""", "one kind per file")]
    [InlineData("""{"prompt":"p","chosen":"c"}""", "'rejected'")]
    [InlineData("""{"chosen":"c","rejected":"r"}""", "'prompt'")]
    [InlineData("""{"prompt":"p","completion":"c","label":2}""", "'label' must be 0 or 1")]
    [InlineData("""{"prompt":"p","text":"c"}""", "expected 'chosen' and 'rejected'")]
    [InlineData("""{"prompt":3,"chosen":"c","rejected":"r"}""", "'prompt' must be a string")]
    [InlineData("""nope""", "malformed JSON")]
    public void MalformedRecordsAreNamedByFileAndLine(string bad, string expected)
    {
        var path = Write(["""{"prompt":"p","chosen":"a","rejected":"b"}""", bad]);
        var e = Assert.Throws<SeekSharpException>(() => RewardData.Read(path));
        Assert.StartsWith($"{path}:2: ", e.Message);
        Assert.Contains(expected, e.Message);
    }
}
