using System.Text.Json.Nodes;
using SeekSharp.Data;

namespace SeekSharp.Tests;

/// <summary>Dataset folder validation, the batch sampler, and end-to-end tokenization.</summary>
public class TokenDatasetTests
{
    private const int Vocab = 1000;

    // Trivial tokenizer: one id per UTF-16 code unit, folded into the vocabulary.
    private static int[] Encode(string s) => s.Select(c => c % Vocab).ToArray();

    /// <summary>Writes a dataset whose train split is 0, 1, 2, ... split over shards of the given sizes.</summary>
    private static string WriteDataset(TempDir dir, params int[] trainShardSizes)
    {
        var shards = new JsonArray();
        var next = 0;
        for (var i = 0; i < trainShardSizes.Length; i++)
        {
            var file = $"train_{i:D3}.bin";
            using var w = new TokenShardWriter(dir.File(file), Vocab, "feedface");
            w.Append(Enumerable.Range(next, trainShardSizes[i]).Select(t => t % Vocab).ToArray());
            next += trainShardSizes[i];
            w.Complete();
            shards.Add(new JsonObject { ["file"] = file, ["tokens"] = trainShardSizes[i] });
        }
        var manifest = new JsonObject
        {
            ["format_version"] = 1, ["tokenizer_hash"] = "feedface", ["vocab_size"] = Vocab, ["bos_id"] = 1, ["eos_id"] = 2,
            ["train"] = new JsonObject { ["documents"] = 1, ["tokens"] = next, ["shards"] = shards },
            ["val"] = new JsonObject { ["documents"] = 0, ["tokens"] = 0, ["shards"] = new JsonArray() },
        };
        File.WriteAllText(dir.File("dataset.json"), manifest.ToJsonString());
        return dir.Path;
    }

    [Fact]
    public void SamplerIsDeterministicShiftedAndCrossesShards()
    {
        using var dir = new TempDir();
        using var ds = TokenDataset.Open(WriteDataset(dir, 7, 0, 5, 9));
        Assert.Equal(21, ds.TrainTokens);
        Assert.Equal(0, ds.ValTokens);
        Assert.Equal((Vocab, "feedface", 1, 2), (ds.VocabSize, ds.TokenizerHash, ds.BosId, ds.EosId));

        var sampler = new TokenBatchSampler(ds.Train);
        const int B = 16, T = 6;
        long[] In() => new long[B * T];
        var (i1, t1, i2, t2, i3, t3) = (In(), In(), In(), In(), In(), In());
        sampler.Sample(1234, B, T, i1, t1);
        sampler.Sample(99, B, T, i3, t3);
        sampler.Sample(1234, B, T, i2, t2);
        Assert.Equal(i1, i2);
        Assert.Equal(t1, t2);
        Assert.NotEqual(i1, i3);

        var crossed = false;
        for (var b = 0; b < B; b++)
        {
            var s = i1[b * T];
            Assert.InRange(s, 0, 21 - T - 1);
            for (var t = 0; t < T; t++)
            {
                // Tokens are their own global index, so a correct window is a consecutive run.
                Assert.Equal(s + t, i1[b * T + t]);
                Assert.Equal(s + t + 1, t1[b * T + t]);
            }
            crossed |= s < 7 && s + T >= 7 || s < 12 && s + T >= 12;
        }
        Assert.True(crossed, "with 16 rows over 21 tokens some window must cross a shard boundary");
    }

    [Fact]
    public void SequentialCoversTheSplitInOrderAndTooSmallSplitsAreRejected()
    {
        using var dir = new TempDir();
        using var ds = TokenDataset.Open(WriteDataset(dir, 10, 15));
        var sampler = new TokenBatchSampler(ds.Train);
        var batches = sampler.Sequential(2, 4, maxBatches: 0).ToList();
        Assert.Equal(3, batches.Count); // 25 tokens -> 6 windows of 4 (+1 target) -> 3 batches of 2
        Assert.Equal(new long[] { 8, 9, 10, 11, 12, 13, 14, 15 }, batches[1].inputs);
        Assert.Equal(new long[] { 9, 10, 11, 12, 13, 14, 15, 16 }, batches[1].targets);
        Assert.Single(sampler.Sequential(2, 4, maxBatches: 1));

        var ex = Assert.Throws<SeekSharpException>(() => sampler.Sample(0, 1, 25, new long[25], new long[25]));
        Assert.Contains("25 tokens", ex.Message);
        Assert.Contains("26", ex.Message);
        ex = Assert.Throws<SeekSharpException>(() => new TokenBatchSampler(ds.Val).Sequential(1, 4, 1));
        Assert.Contains("val", ex.Message);
    }

    [Fact]
    public void OpenRejectsBrokenFoldersNamingTheFile()
    {
        using var dir = new TempDir();
        Assert.Contains("missing-dir", Assert.Throws<SeekSharpException>(() => TokenDataset.Open(dir.File("missing-dir"))).Message);
        Assert.Contains("dataset.json", Assert.Throws<SeekSharpException>(() => TokenDataset.Open(dir.Path)).Message);

        WriteDataset(dir, 5, 6);
        var manifest = File.ReadAllText(dir.File("dataset.json"));
        void Expect(string json, string fragment)
        {
            File.WriteAllText(dir.File("dataset.json"), json);
            var ex = Assert.Throws<SeekSharpException>(() => TokenDataset.Open(dir.Path));
            Assert.Contains(fragment, ex.Message);
        }

        Expect("{not json", "dataset.json");
        Expect(manifest.Replace("\"vocab_size\":1000,", ""), "vocab_size");
        Expect(manifest.Replace("train_001.bin", "train_009.bin"), "train_009.bin");
        Expect(manifest.Replace("\"tokens\":6", "\"tokens\":7").Replace("\"tokens\":11", "\"tokens\":12"), "train_001.bin");
        Expect(manifest.Replace("feedface", "deadbeef"), "train_000.bin");
        Expect(manifest.Replace("\"vocab_size\":1000", "\"vocab_size\":999"), "train_000.bin");
    }

    [Fact]
    public void TokenizesTextAndJsonlIntoTrainAndVal()
    {
        using var src = new TempDir();
        using var outDir = new TempDir();
        Directory.CreateDirectory(src.File("sub"));
        File.WriteAllText(src.File("a.txt"), "hello");
        File.WriteAllText(src.File("sub/b.md"), "# title");
        File.WriteAllText(src.File("ignored.csv"), "x,y");
        var lines = Enumerable.Range(0, 40).Select(i => $"{{\"text\":\"doc {i}\",\"id\":{i}}}").ToList();
        lines.Insert(10, "   ");
        File.WriteAllLines(src.File("c.jsonl"), lines);

        var logs = new List<string>();
        var report = DataTokenization.Run([src.Path], Encode, Vocab, "0123abcd", bosId: 1, eosId: 2, outDir.Path,
            valFraction: 0.1, shardTokens: 50, log: logs.Add);

        var expectedTokens = (5 + 2) + (7 + 2) + Enumerable.Range(0, 40).Sum(i => $"doc {i}".Length + 2);
        Assert.Equal(42, report.Documents);
        Assert.Equal(42, report.TrainDocuments + report.ValDocuments);
        Assert.InRange(report.ValDocuments, 1, 20);
        Assert.Equal(expectedTokens, report.TrainTokens + report.ValTokens);
        Assert.True(report.TrainShards > 1, "50-token shards must split the train set");
        Assert.True(report.BytesRead > 0);
        Assert.NotEmpty(logs);

        using var ds = TokenDataset.Open(outDir.Path);
        Assert.Equal(report.TrainTokens, ds.TrainTokens);
        Assert.Equal(report.ValTokens, ds.ValTokens);
        Assert.All(ds.Train.Shards.Take(ds.Train.Shards.Count - 1), s => Assert.Equal(50, s.Count));
        // The first document (a.txt, sorted first) starts with bos and "hello" unless it went to val.
        var all = new int[ds.TrainTokens];
        ds.Train.Read(0, all);
        Assert.Equal(report.TrainDocuments, all.Count(t => t == 1));
        Assert.Equal(report.TrainDocuments, all.Count(t => t == 2));
        Assert.DoesNotContain(Directory.GetFiles(outDir.Path), f => f.Contains(".tmp-"));

        // Same inputs -> byte-identical shards (the split and order do not depend on threads).
        using var again = new TempDir();
        DataTokenization.Run([src.Path], Encode, Vocab, "0123abcd", 1, 2, again.Path, 0.1, 50);
        foreach (var f in Directory.GetFiles(outDir.Path, "*.bin"))
            Assert.Equal(File.ReadAllBytes(f), File.ReadAllBytes(Path.Combine(again.Path, Path.GetFileName(f))));
    }

    [Fact]
    public void TwoDocumentsStillGetAValidationDocument()
    {
        using var src = new TempDir();
        using var outDir = new TempDir();
        File.WriteAllText(src.File("a.txt"), "one");
        File.WriteAllText(src.File("b.txt"), "two");
        var report = DataTokenization.Run([src.File("a.txt"), src.File("b.txt")], Encode, Vocab, "ab", 1, 2, outDir.Path, valFraction: 0.001);
        Assert.Equal((1L, 1L), (report.TrainDocuments, report.ValDocuments));
    }

    [Fact]
    public void ReportsMalformedJsonlLinesAndMissingInputs()
    {
        using var src = new TempDir();
        using var outDir = new TempDir();
        var bad = src.File("bad.jsonl");
        File.WriteAllLines(bad, ["{\"text\":\"ok\"}", "{\"text\":\"fine\"}", "{\"text\": broken"]);
        var ex = Assert.Throws<SeekSharpException>(() => DataTokenization.Run([bad], Encode, Vocab, "ab", 1, 2, outDir.Path));
        Assert.Contains("bad.jsonl, line 3", ex.Message);
        Assert.False(File.Exists(Path.Combine(outDir.Path, "dataset.json")));

        File.WriteAllLines(bad, ["{\"text\":\"ok\"}", "{\"body\":\"no text\"}"]);
        ex = Assert.Throws<SeekSharpException>(() => DataTokenization.Run([bad], Encode, Vocab, "ab", 1, 2, outDir.Path));
        Assert.Contains("bad.jsonl, line 2", ex.Message);
        Assert.Contains("\"text\"", ex.Message);

        ex = Assert.Throws<SeekSharpException>(() => DataTokenization.Run([src.File("nowhere")], Encode, Vocab, "ab", 1, 2, outDir.Path));
        Assert.Contains("nowhere", ex.Message);
    }
}
