using System.Text;
using Parquet;
using Parquet.Schema;
using SeekSharp.Data.Curation;

namespace SeekSharp.Tests.Curation;

/// <summary>Source specs and every reader format, on small generated files, including the malformed cases.</summary>
public class SourceReaderTests : TempDirTest
{
    [Theory]
    [InlineData("web=data/web", "web", "data/web", 1.0)]
    [InlineData("web_2-x=data/web:2.5", "web_2-x", "data/web", 2.5)]
    [InlineData("w=C:/data/web", "w", "C:/data/web", 1.0)]
    [InlineData("w=C:/data/web:3", "w", "C:/data/web", 3.0)]
    public void ParsesGoodSpecs(string spec, string name, string path, double weight)
    {
        var s = SourceSpec.Parse(spec);
        Assert.Equal((name, path, weight), (s.Name, s.Path, s.Weight));
        Assert.Equal(("text", "text", (string?)null), (s.Field, s.Column, s.Format));
    }

    [Theory]
    [InlineData("data/web", "NAME=PATH")]
    [InlineData("=data/web", "name")]
    [InlineData("we b=data", "letters, digits")]
    [InlineData("web=data:0", "positive")]
    [InlineData("web=data:-1", "positive")]
    [InlineData("web=data:", "positive")]
    [InlineData("web=:2", "path is empty")]
    public void RejectsBadSpecsNamingTheSpec(string spec, string expected)
    {
        var e = Assert.Throws<SeekSharpException>(() => SourceSpec.Parse(spec));
        Assert.Contains(spec, e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void MissingPathThrowsNamingIt()
    {
        var missing = Path.Combine(NewDir(), "nope");
        var e = Assert.Throws<SeekSharpException>(() => SourceReader.Read(new SourceSpec("x", missing)));
        Assert.Contains(missing, e.Message);
    }

    [Fact]
    public void FolderIsWalkedRecursivelyInSortedOrderWithFormatsByExtension()
    {
        var d = NewDir();
        Directory.CreateDirectory(Path.Combine(d, "sub"));
        File.WriteAllText(Path.Combine(d, "b.md"), "# title");
        File.WriteAllText(Path.Combine(d, "a.txt"), "plain text\nsecond line");
        File.WriteAllText(Path.Combine(d, "sub", "c.html"), "<p>hi</p>");
        File.WriteAllText(Path.Combine(d, "sub", "mail.txt"), "Return-Path: <a@b.c>\nSubject: hi\n\nbody");
        File.WriteAllText(Path.Combine(d, "sub", "noext"), "From: a@b.c\nTo: d@e.f\n\nbody");
        File.WriteAllText(Path.Combine(d, "sub", "note.txt"), "Subject: my essay\n\nnot a mail");
        File.WriteAllText(Path.Combine(d, "z.bin"), "x");
        File.WriteAllText(Path.Combine(d, ".hidden"), "x");
        var records = SourceReader.Read(new SourceSpec("s", d)).ToList();
        Assert.Equal(
            [".hidden:unknown", "a.txt:text", "b.md:markdown", "c.html:html", "mail.txt:email", "noext:email", "note.txt:text", "z.bin:unknown"],
            records.Select(r => $"{Path.GetFileName(r.Origin)}:{r.Format}"));
        Assert.Equal("hidden", records[0].Reason);   // not read, but accounted for (quarantined as read/hidden)
        Assert.All(records.Skip(1).Take(6), r => Assert.True(r.Bytes is not null && r.Text is null && r.Error is null));
        Assert.Contains("unsupported", records[^1].Error);
        Assert.Equal("plain text\nsecond line", Encoding.UTF8.GetString(records[1].Bytes!));
    }

    [Fact]
    public void SpamAssassinStyleMailInTxtIsEmail()
    {
        var f = Path.Combine(NewDir(), "00001.abc.txt");
        File.WriteAllText(f, "From fork-admin@xent.com  Mon Sep 30 13:44:10 2002\nReturn-Path: <x@y.z>\n\nhi");
        Assert.Equal("email", SourceReader.Read(new SourceSpec("s", f)).Single().Format);
    }

    [Fact]
    public void FormatOverrideForcesOneFormat()
    {
        var f = Path.Combine(NewDir(), "page.txt");
        File.WriteAllText(f, "<p>x</p>");
        Assert.Equal("html", SourceReader.Read(new SourceSpec("s", f) with { Format = "html" }).Single().Format);
        Assert.Throws<SeekSharpException>(() => SourceReader.Read(new SourceSpec("s", f) with { Format = "pdf" }));
    }

    [Fact]
    public void JsonlBadLineBecomesErrorWithLineNumberAndRunGoesOn()
    {
        var f = Path.Combine(NewDir(), "d.jsonl");
        File.WriteAllText(f, "{\"body\":\"one\"}\n\n{not json\n{\"other\":1}\n{\"body\":7}\n{\"body\":\"two\"}\n");
        var r = SourceReader.Read(new SourceSpec("s", f) with { Field = "body" }).ToList();
        Assert.Equal(5, r.Count);
        Assert.Equal(("one", $"{f}:1"), (r[0].Text, r[0].Origin));
        Assert.StartsWith($"{f}:3:", r[1].Error);
        Assert.Contains("malformed JSON", r[1].Error);
        Assert.Contains("no \"body\" field", r[2].Error);
        Assert.Contains("must be a string", r[3].Error);
        Assert.Equal(("two", null), (r[4].Text, r[4].Error));
    }

    [Fact]
    public void CsvHandlesRfc4180Quoting()
    {
        var f = Path.Combine(NewDir(), "d.csv");
        File.WriteAllText(f, "id,text,n\r\n1,plain,2\r\n2,\"with, comma\",3\n3,\"multi\nline \"\"quoted\"\"\",4\n4,,5\n5,last");
        var r = SourceReader.Read(new SourceSpec("s", f)).ToList();
        Assert.Equal(["plain", "with, comma", "multi\nline \"quoted\"", "", "last"], r.Select(x => x.Text));
        Assert.Equal([$"{f}:2", $"{f}:3", $"{f}:4", $"{f}:6", $"{f}:7"], r.Select(x => x.Origin));
        Assert.All(r, x => Assert.Equal("csv", x.Format));
    }

    [Fact]
    public void CsvShortRowAndUnterminatedQuoteAreErrors()
    {
        var f = Path.Combine(NewDir(), "d.csv");
        File.WriteAllText(f, "id,text\n1\n2,\"never closed\n");
        var r = SourceReader.Read(new SourceSpec("s", f)).ToList();
        Assert.Equal(2, r.Count);
        Assert.Contains("column \"text\"", r[0].Error);
        Assert.Contains("unterminated", r[1].Error);
    }

    [Fact]
    public void CsvMissingColumnIsOneErrorNamingColumnsFound()
    {
        var f = Path.Combine(NewDir(), "d.csv");
        File.WriteAllText(f, "id,body\n1,a\n2,b\n");
        var r = SourceReader.Read(new SourceSpec("s", f) with { Column = "content" }).Single();
        Assert.Contains("\"content\"", r.Error);
        Assert.Contains("\"id\", \"body\"", r.Error);
        Assert.Contains(f, r.Error);
    }

    [Fact]
    public void ParquetReadsTextColumnAcrossRowGroups()
    {
        var f = Path.Combine(NewDir(), "d.parquet");
        WriteParquet(f, [["a", "b"], ["c"]]);
        var r = SourceReader.Read(new SourceSpec("s", f)).ToList();
        Assert.All(r, x => Assert.Null(x.Error));
        Assert.Equal(["a", "b", "c"], r.Select(x => x.Text));
        Assert.Equal($"{f}#2", r[2].Origin);
        var missing = SourceReader.Read(new SourceSpec("s", f) with { Column = "body" }).Single();
        Assert.Contains("\"body\"", missing.Error);
        Assert.Contains("\"text\"", missing.Error);
    }

    [Fact]
    public void TruncatedParquetIsAnErrorRecordNamingTheFile()
    {
        var f = Path.Combine(NewDir(), "d.parquet");
        WriteParquet(f, [[.. Enumerable.Range(0, 200).Select(i => $"row {i} " + new string('x', i))]]);
        var bytes = File.ReadAllBytes(f);
        File.WriteAllBytes(f, bytes[..(bytes.Length / 2)]);
        var r = SourceReader.Read(new SourceSpec("s", f)).ToList();
        var err = Assert.Single(r);
        Assert.Contains(f, err.Error);
        Assert.Equal("parquet", err.Format);
    }

    private static void WriteParquet(string file, string[][] groups)
    {
        var field = new DataField<string>("text");
        var id = new DataField<int>("id");
        var schema = new ParquetSchema(id, field);
        Task.Run(async () =>
        {
            await using var fs = File.Create(file);
            await using var w = await ParquetWriter.CreateAsync(schema, fs);
            foreach (var g in groups)
            {
                using var rg = w.CreateRowGroup();
                await rg.WriteAsync(id, new ReadOnlyMemory<int>([.. Enumerable.Range(0, g.Length)]));
                await rg.WriteAsync(field, g);
            }
        }).GetAwaiter().GetResult();
    }
}
