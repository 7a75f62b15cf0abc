using System.Text;
using System.Text.Json;
using SeekSharp.Data;
using SeekSharp.Data.Curation;
using SeekSharp.Tests.Tokenization;

namespace SeekSharp.Tests.Curation;

public class CurationPipelineTests : TempDirTest
{
    static readonly string[] Vocabulary =
    [
        "river", "market", "garden", "winter", "signal", "harbor", "letter", "engine", "forest", "window", "silver", "doctor",
        "village", "teacher", "bridge", "summer", "number", "planet", "island", "mountain", "kitchen", "pattern", "question",
        "answer", "morning", "evening", "station", "picture", "country", "history", "science", "problem", "machine", "report",
        "weather", "council", "student", "measure", "journey", "library", "rhythm", "balance", "harvest", "shelter", "compass",
    ];
    static readonly string[] Glue = ["the", "and", "of", "with", "for", "from", "into", "over", "near", "about", "under", "before"];

    // Varied prose that passes the default quality rules: real stop words, no repeated n-grams to speak of.
    internal static string Prose(int seed, int words = 120)
    {
        var rng = new Random(seed);
        var sb = new StringBuilder();
        for (var i = 0; i < words; i++)
        {
            if (i > 0) sb.Append(i % 11 == 0 ? ". " : " ");
            sb.Append(i % 3 == 1 ? Glue[rng.Next(Glue.Length)] : Vocabulary[rng.Next(Vocabulary.Length)]);
        }
        return sb.Append('.').ToString();
    }

    static string Mail(string messageId, string date, string body) =>
        $"Return-Path: <alice@example.org>\nReceived: from relay{messageId} by mx.example.org\nMessage-ID: <{messageId}@example.org>\n" +
        $"Date: {date}\nFrom: Alice <alice@example.org>\nTo: team@example.org\nSubject: Quarterly river report\n" +
        $"Content-Type: text/plain; charset=us-ascii\n\n{body}\n";

    string Tokenizer()
    {
        var dir = NewDir();
        TokenizerFixture.Tokenizer.Save(dir);
        return dir;
    }

    [Fact]
    public void AccountsForEveryDocumentAndWritesATrainableDataset()
    {
        var notes = NewDir();
        for (var i = 0; i < 4; i++) File.WriteAllText(Path.Combine(notes, $"note{i}.txt"), Prose(i));
        File.WriteAllText(Path.Combine(notes, "copy.txt"), Prose(2));               // exact duplicate of note2
        File.WriteAllText(Path.Combine(notes, "short.txt"), "Too short to keep.");  // too_short

        var web = Path.Combine(NewDir(), "web.jsonl");
        File.WriteAllLines(web, [
            JsonSerializer.Serialize(new { text = Prose(10) }),
            JsonSerializer.Serialize(new { text = Prose(11) }),
            "{\"text\": \"unterminated",
            JsonSerializer.Serialize(new { text = Prose(12) }),
        ]);
        var table = Path.Combine(NewDir(), "table.csv");
        File.WriteAllText(table, "title,body\nhello,world\n");

        var mail = NewDir();
        var body = Prose(20, 150);
        var words = body.Split(' ');
        words[70] = "lighthouse";                                                   // one word changed: Jaccard ≈ 0.9
        File.WriteAllText(Path.Combine(mail, "1"), Mail("a1", "Mon, 2 Sep 2002 10:00:00 +0100", body));
        File.WriteAllText(Path.Combine(mail, "2"), Mail("b2", "Tue, 3 Sep 2002 11:30:00 +0100", string.Join(' ', words)));

        var outDir = NewDir();
        var r = CurationPipeline.Run(new CurationOptions
        {
            Sources = [SourceSpec.Parse($"notes={notes}"), SourceSpec.Parse($"web={web}"), SourceSpec.Parse($"table={table}"), SourceSpec.Parse($"mail={mail}")],
            TokenizerDir = Tokenizer(), OutDir = outDir, ValFraction = 0.2,
        });
        var m = CurationManifest.Load(Path.Combine(outDir, CurationManifest.FileName));
        Assert.True(m.CountsReconcile);
        foreach (var s in m.Sources.Append(m.Totals))
            Assert.Equal(s.In, s.Kept + s.FilteredTotal + s.ExactDuplicates + s.NearDuplicates + s.QuarantinedTotal);
        var by = m.Sources.ToDictionary(s => s.Name);

        Assert.Equal((6L, 4L, 1L), (by["notes"].In, by["notes"].Kept, by["notes"].ExactDuplicates));
        Assert.Equal(1, by["notes"].Filtered[QualityReasons.TooShort]);
        Assert.Equal((4L, 3L, 1L), (by["web"].In, by["web"].Kept, by["web"].Quarantined["read/malformed"]));
        Assert.Equal((1L, 0L, 1L), (by["table"].In, by["table"].Kept, by["table"].Quarantined["read/malformed"]));
        Assert.Equal((2L, 1L, 1L, 2L), (by["mail"].In, by["mail"].Kept, by["mail"].NearDuplicates, by["mail"].DecodedMime));
        Assert.Contains(m.DuplicateExamples, d => d.Kind == "near" && d.Origin.EndsWith("2") && d.FirstOrigin.EndsWith("1"));

        var quarantine = File.ReadAllLines(Path.Combine(outDir, CurationPipeline.QuarantineFile)).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(2, quarantine.Count);
        Assert.Contains(quarantine, q => q.GetProperty("origin").GetString() == $"{web}:3" && q.GetProperty("detail").GetString()!.Contains("malformed JSON"));
        Assert.Contains(quarantine, q => q.GetProperty("origin").GetString() == table && q.GetProperty("detail").GetString()!.Contains("no column \"text\""));

        using var ds = TokenDataset.Open(outDir);
        Assert.Equal(r.Tokens.TrainTokens, ds.TrainTokens);
        Assert.True(ds.ValTokens > 0);
        Assert.Equal(m.Totals.TrainTokens + m.Totals.ValTokens, ds.TrainTokens + ds.ValTokens);
        Assert.True(File.Exists(Path.Combine(outDir, "tokenizer.json")));
        var inputs = new long[2 * 16];
        new TokenBatchSampler(ds.Train).Sample(1, 2, 16, inputs, new long[inputs.Length]);
        var card = File.ReadAllText(Path.Combine(outDir, CurationPipeline.DataCardFile));
        Assert.Contains("No sentiment label", card);
        Assert.Contains("too_short", card);
    }

    [Fact]
    public void WeightTwoDoublesASourceAndCopiesShareTheirSplit()
    {
        var a = NewDir();
        var b = NewDir();
        for (var i = 0; i < 6; i++)
        {
            File.WriteAllText(Path.Combine(a, $"a{i}.txt"), Prose(100 + i));
            File.WriteAllText(Path.Combine(b, $"b{i}.txt"), Prose(200 + i));
        }
        var lexicon = Path.Combine(NewDir(), "lex.csv");
        File.WriteAllText(lexicon, "word,valence\nharvest,2\nproblem,-2\n");
        var outDir = NewDir();
        var r = CurationPipeline.Run(new CurationOptions
        {
            Sources = [SourceSpec.Parse($"a={a}:2"), SourceSpec.Parse($"b={b}")], TokenizerDir = Tokenizer(), OutDir = outDir, LexiconPath = lexicon,
        });
        var by = r.Manifest.Sources.ToDictionary(s => s.Name);
        Assert.Equal((6L, 12L), (by["a"].Kept, by["a"].Mixed));
        Assert.Equal((6L, 6L), (by["b"].Kept, by["b"].Mixed));
        // ledger.json: what data prepare wrote, the shards' bytes exactly.
        var ledger = SeekSharp.Ledger.LedgerEntry.Read(Path.Combine(outDir, "ledger.json"));
        Assert.Equal("data-prepare", ledger.Kind);
        Assert.Equal(r.Tokens.TrainTokens + r.Tokens.ValTokens, ledger.Tokens);
        var shards = Directory.GetFiles(outDir, "*.bin");
        Assert.NotEmpty(shards);
        Assert.Equal(shards.Sum(f => new FileInfo(f).Length) + new FileInfo(Path.Combine(outDir, CurationPipeline.DocumentsFile)).Length
                     + new FileInfo(Path.Combine(outDir, CurationPipeline.QuarantineFile)).Length, ledger.Storage!.ByKind["data"].WrittenBytes);
        Assert.Equal(new FileInfo(Path.Combine(outDir, CurationPipeline.DataCardFile)).Length, ledger.Storage.ByKind["report"].WrittenBytes);
        var lines = File.ReadAllLines(Path.Combine(outDir, CurationPipeline.DocumentsFile)).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(18, lines.Count);
        Assert.All(lines.GroupBy(l => l.GetProperty("origin").GetString()), g => Assert.Single(g.Select(l => l.GetProperty("split").GetString()).Distinct()));
        Assert.NotNull(by["a"].SentimentMean);
        Assert.Equal(6, by["a"].SentimentHistogram!.Sum());
        // Fractional weights sample by a stable hash: about half of many documents, the same ones every time.
        var half = Enumerable.Range(0, 1000).Sum(i => CurationPipeline.Copies(0.5, $"doc{i}"));
        Assert.InRange(half, 440, 560);
        Assert.Equal(half, Enumerable.Range(0, 1000).Sum(i => CurationPipeline.Copies(0.5, $"doc{i}")));
    }

    [Fact]
    public void UserErrorsNameTheProblem()
    {
        var tok = Tokenizer();
        var e = Assert.Throws<SeekSharpException>(() => CurationPipeline.Run(new CurationOptions
            { Sources = [SourceSpec.Parse("x=/no/such/place")], TokenizerDir = tok, OutDir = NewDir() }));
        Assert.Contains("/no/such/place", e.Message);
        e = Assert.Throws<SeekSharpException>(() => CurationPipeline.Run(new CurationOptions
            { Sources = [SourceSpec.Parse($"x={NewDir()}")], TokenizerDir = NewDir(), OutDir = NewDir() }));
        Assert.Contains("tokenizer.json", e.Message);
    }
}
