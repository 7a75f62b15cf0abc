using SeekSharp.Tokenization;

namespace SeekSharp.Tests.Tokenization;

public class TokenizerTrainingTests : TempDirTest
{
    private static readonly int Vocab = 256 + SpecialTokens.All.Count + 50;

    [Fact]
    public void TrainsOnFoldersAndJsonlAndReports()
    {
        var input = NewDir();
        var corpus = TokenizerFixture.Corpus();
        for (var i = 0; i < 30; i++) File.WriteAllText(Path.Combine(input, $"doc{i:D2}.txt"), corpus[i]);
        Directory.CreateDirectory(Path.Combine(input, "sub"));
        File.WriteAllLines(Path.Combine(input, "sub", "more.jsonl"),
            corpus.Skip(30).Select(t => System.Text.Json.JsonSerializer.Serialize(new { text = t, id = 1 })));
        File.WriteAllText(Path.Combine(input, "ignored.bin"), "\u0001\u0002 not text");
        var outDir = Path.Combine(NewDir(), "tok");
        var lines = new List<string>();

        var report = TokenizerTraining.Run([input], Vocab, outDir, heldOutFraction: 0.2, log: lines.Add);

        Assert.Equal(corpus.Count, report.Documents);
        Assert.Equal(Vocab, report.VocabSize);
        Assert.Equal(50, report.Merges);
        Assert.InRange(report.HeldOutDocuments, 1, corpus.Count - 1);
        Assert.True(report.TrainingBytes > 0 && report.HeldOutBytes > 0);
        Assert.Equal((double)report.HeldOutBytes / report.HeldOutTokens, report.BytesPerToken, 6);
        Assert.True(report.BytesPerToken > 1);
        Assert.Equal(Path.GetFullPath(Path.Combine(outDir, "tokenizer.json")), report.OutputPath);
        Assert.Equal(Vocab, BpeTokenizer.Load(outDir).VocabSize);
        Assert.NotEmpty(lines);

        // The split depends only on the documents' paths, so a rerun holds out the same ones.
        var again = TokenizerTraining.Run([input], Vocab, outDir, heldOutFraction: 0.2);
        Assert.Equal(report.HeldOutBytes, again.HeldOutBytes);
    }

    [Fact]
    public void BadJsonlLineNamesFileAndLine()
    {
        var file = Path.Combine(NewDir(), "data.jsonl");
        File.WriteAllLines(file, ["{\"text\": \"fine\"}", "", "{\"text\": oops}"]);
        var e = Assert.Throws<SeekSharpException>(() => TokenizerTraining.Run([file], Vocab, NewDir()));
        Assert.Contains($"{file}, line 3", e.Message);

        File.WriteAllLines(file, ["{\"body\": \"no text field\"}"]);
        e = Assert.Throws<SeekSharpException>(() => TokenizerTraining.Run([file], Vocab, NewDir()));
        Assert.Contains($"{file}, line 1", e.Message);
        Assert.Contains("\"text\"", e.Message);
    }

    [Fact]
    public void TheSameCorpusInAnotherFolderGivesTheSameTokenizer()
    {
        var lines = Enumerable.Range(0, 200).Select(i => $"{{\"text\": \"document {i} about ships, whales and the sea {i * 7}\"}}").ToArray();
        string Train()
        {
            var file = Path.Combine(NewDir(), "corpus.jsonl");
            File.WriteAllLines(file, lines);
            var outDir = NewDir();
            TokenizerTraining.Run([file], Vocab, outDir, heldOutFraction: 0.2);
            return BpeTokenizer.Load(outDir).Hash;
        }
        Assert.Equal(Train(), Train());
    }

    [Fact]
    public void MissingInputIsNamed()
    {
        var missing = Path.Combine(NewDir(), "nope");
        var e = Assert.Throws<SeekSharpException>(() => TokenizerTraining.Run([missing], Vocab, NewDir()));
        Assert.Contains(missing, e.Message);
    }

    [Fact]
    public void EmptyFolderIsAnError()
    {
        var e = Assert.Throws<SeekSharpException>(() => TokenizerTraining.Run([NewDir()], Vocab, NewDir()));
        Assert.Contains("no documents", e.Message);
    }
}
