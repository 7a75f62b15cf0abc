using SeekSharp.Data.Synthetic;
using SeekSharp.Reasoning;

namespace SeekSharp.Tests.Synthetic;

public class SyntheticDataTests
{
    [Fact]
    public void Write_then_read_round_trips_and_is_deterministic()
    {
        using var dir = new TempDir();
        var report = SyntheticData.Write("countdown", 25, 9, dir.File("cd.jsonl"), augment: true);
        Assert.Equal(25, report.Records);
        Assert.Equal(12, report.Augmented);
        var again = SyntheticData.Write("countdown", 25, 9, dir.File("cd2.jsonl"), augment: true);
        Assert.Equal(report.Sha256, again.Sha256);

        var records = SyntheticData.Read(dir.File("cd.jsonl"));
        Assert.Equal(25, records.Count);
        Assert.Equal("countdown-000001", records[0].Id);
        Assert.Equal("countdown-000001", records[1].AugmentedFrom);
        Assert.All(records, r => Assert.True(Verifiers.Check(r.Problem, r.Problem.Answer)));
        Assert.Equal(records[0].Problem.Parameters["numbers"], SyntheticData.Generate(CountdownTask.Instance, 1, 9)[0].Problem.Parameters["numbers"]);
        var text = File.ReadAllText(dir.File("cd.jsonl"));
        Assert.Contains("\"parameters\":{\"numbers\":", text);
        Assert.DoesNotContain("\\u002B", text);
    }

    [Theory]
    [InlineData("arithmetic")]
    [InlineData("finance")]
    public void Every_task_round_trips(string task)
    {
        using var dir = new TempDir();
        SyntheticData.Write(task, 10, 1, dir.File("x.jsonl"));
        var records = SyntheticData.Read(dir.File("x.jsonl"));
        Assert.All(records, r => Assert.Equal(SyntheticTasks.Get(task).Solve(r.Problem), r.Problem.Answer));
    }

    [Fact]
    public void Malformed_line_is_reported_with_file_and_line()
    {
        using var dir = new TempDir();
        var path = dir.File("bad.jsonl");
        SyntheticData.Write("arithmetic", 3, 1, path);
        var lines = File.ReadAllLines(path).ToList();
        lines.Insert(2, "{\"id\": \"x\", \"prompt\": 3");
        File.WriteAllLines(path, lines);
        var e = Assert.Throws<SeekSharpException>(() => SyntheticData.Read(path));
        Assert.Contains("bad.jsonl:3:", e.Message);

        lines[2] = "{\"id\":\"x\",\"task\":\"arithmetic\",\"prompt\":\"p\",\"solution\":\"s\",\"checker\":\"arithmetic\"}";
        File.WriteAllLines(path, lines);
        e = Assert.Throws<SeekSharpException>(() => SyntheticData.Read(path));
        Assert.Contains("bad.jsonl:3:", e.Message);
        Assert.Contains("'answer'", e.Message);
    }

    [Fact]
    public void Bad_arguments_are_user_errors()
    {
        using var dir = new TempDir();
        Assert.Throws<SeekSharpException>(() => SyntheticData.Write("nope", 3, 1, dir.File("x.jsonl")));
        Assert.Throws<SeekSharpException>(() => SyntheticData.Write("arithmetic", 0, 1, dir.File("x.jsonl")));
        Assert.Throws<SeekSharpException>(() => SyntheticData.Read(dir.File("missing.jsonl")));
    }

    [Fact]
    public void Quickstart_corpus_still_writes_arithmetic_documents()
    {
        using var dir = new TempDir();
        var path = SyntheticCorpus.Write(dir.File("c.jsonl"), 50, seed: 3);
        var text = File.ReadAllText(path);
        Assert.Contains("Problem: What is ", text);
        Assert.Equal(50, File.ReadAllLines(path).Length);
    }
}
