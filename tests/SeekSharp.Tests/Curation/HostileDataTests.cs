using System.Diagnostics;
using System.Text.Json;
using SeekSharp.Data;
using SeekSharp.Data.Curation;
using SeekSharp.Tests.Cli;
using SeekSharp.Tests.Tokenization;

namespace SeekSharp.Tests.Curation;

/// <summary>Hostile inputs for `seek data prepare` and `seek data tokenize` (issue 14, finding 10): each one is
/// accounted for (a quarantine reason, a skipped count) or a one-line error, never a crash or a hang.</summary>
public class HostileDataTests : TempDirTest
{
    const int Vocab = 1000;
    static int[] Encode(string s) => [.. s.Select(c => c % Vocab)];

    string Tokenizer()
    {
        var dir = NewDir();
        TokenizerFixture.Tokenizer.Save(dir);
        return dir;
    }

    // Before the fix a FIFO blocked and a loop walked for ever: a run that does not end fails here instead of hanging the suite.
    static T Ends<T>(Func<T> run)
    {
        var task = Task.Run(run);
        Assert.True(task.Wait(TimeSpan.FromMinutes(2)), "the run did not end (blocked on a FIFO or walking a loop?)");
        return task.Result;
    }

    static void Sh(string script, params string[] args)
    {
        var psi = new ProcessStartInfo("bash") { RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(script);
        psi.ArgumentList.Add("sh");
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"{script}: {err}");
    }

    /// <summary>Puts one hostile entry of kind <paramref name="kind"/> into <paramref name="dir"/>.</summary>
    static void AddHostile(string dir, string kind)
    {
        switch (kind)
        {
            case "fifo": Sh("mkfifo \"$1/pipe.txt\"", dir); break;
            case "dev_zero": File.CreateSymbolicLink(Path.Combine(dir, "zero.txt"), "/dev/zero"); break;
            case "dir_loop": Directory.CreateSymbolicLink(Path.Combine(dir, "loop"), dir); break;
            case "self_link": File.CreateSymbolicLink(Path.Combine(dir, "self.txt"), Path.Combine(dir, "self.txt")); break;
            case "dangling": File.CreateSymbolicLink(Path.Combine(dir, "gone.txt"), Path.Combine(dir, "nowhere.txt")); break;
            case "bad_name": Sh("printf 'some text here' > \"$1/bad-$(printf '\\377\\376').txt\"", dir); break;
            case "hidden_file": File.WriteAllText(Path.Combine(dir, ".notes.txt"), CurationPipelineTests.Prose(7)); break;
            case "hidden_dir":
                Directory.CreateDirectory(Path.Combine(dir, ".git", "objects"));
                File.WriteAllText(Path.Combine(dir, ".git", "config.txt"), "x");
                File.WriteAllText(Path.Combine(dir, ".git", "objects", "a.txt"), "y");
                break;
            case "binary": File.WriteAllBytes(Path.Combine(dir, "image.txt"), [0x89, (byte)'P', (byte)'N', (byte)'G', 0, 0, 0, 13, 1, 2, 3, 0, 0]); break;
            case "too_large":
                using (var fs = File.Create(Path.Combine(dir, "huge.txt"))) fs.SetLength(FileWalker.MaxDocumentBytes + 1);   // sparse: costs no disk
                break;
            default: throw new ArgumentException(kind);
        }
    }

    [Theory]
    [InlineData("fifo", "read/not_regular", "not_regular")]
    [InlineData("dev_zero", "read/not_regular", "not_regular")]
    [InlineData("dir_loop", "read/link_loop", "link_loop")]
    [InlineData("self_link", "read/link_loop", "link_loop")]
    [InlineData("dangling", "read/broken_link", "broken_link")]
    [InlineData("bad_name", "read/bad_name", "bad_name")]
    [InlineData("hidden_file", "read/hidden", "hidden")]
    [InlineData("hidden_dir", "read/hidden", "hidden")]
    [InlineData("binary", "decode/binary", "binary")]
    [InlineData("too_large", "read/too_large", "too_large")]
    public void EachHostileEntryIsAccountedOnceByPrepareAndTokenize(string kind, string quarantineReason, string skipReason)
    {
        if (OperatingSystem.IsWindows()) return;   // FIFOs, devices and byte file names are Unix things
        var dir = NewDir();
        File.WriteAllText(Path.Combine(dir, "good.txt"), CurationPipelineTests.Prose(1));
        AddHostile(dir, kind);

        var outDir = NewDir();
        var tok = Tokenizer();
        var r = Ends(() => CurationPipeline.Run(new CurationOptions { Sources = [new SourceSpec("s", dir)], TokenizerDir = tok, OutDir = outDir }));
        var s = r.Manifest.Sources[0];
        Assert.True(r.Manifest.CountsReconcile);
        Assert.Equal((2, 1, 1L), (s.In, s.Kept, s.QuarantinedTotal));
        Assert.Equal(1, s.Quarantined[quarantineReason]);
        var line = File.ReadAllLines(Path.Combine(outDir, CurationPipeline.QuarantineFile)).Single();
        Assert.Contains(quarantineReason.Split('/')[1], line);
        Assert.DoesNotContain(line, c => char.IsControl(c));   // a bad name is shown printable

        var tokenized = NewDir();
        var report = Ends(() => DataTokenization.Run([dir], Encode, Vocab, "ab", 1, 2, tokenized));
        Assert.Equal(1, report.Documents);
        Assert.Equal(new Dictionary<string, long> { [skipReason] = 1 }, report.Skipped);
    }

    [Fact]
    public void ASecondLinkToAFolderIsWalkedOnceAndNestedLoopsEnd()
    {
        if (OperatingSystem.IsWindows()) return;
        var dir = NewDir();
        var sub = Directory.CreateDirectory(Path.Combine(dir, "a", "b")).FullName;
        File.WriteAllText(Path.Combine(sub, "doc.txt"), "x");
        Directory.CreateSymbolicLink(Path.Combine(sub, "up"), dir);                 // a loop two levels down
        Directory.CreateSymbolicLink(Path.Combine(dir, "also-b"), sub);             // the same folder again
        var walked = Ends(() => FileWalker.Walk(dir));
        Assert.Equal([Path.Combine(sub, "doc.txt")], walked.Where(f => f.Skip is null).Select(f => f.Path).ToArray());
        Assert.Equal(2, walked.Count(f => f.Skip == "link_loop"));
    }

    [Fact]
    public void LinesSplitLikeReadLineAndALinePastTheCapIsCountedNotBuilt()
    {
        var rng = new Random(5);
        var text = new string([.. Enumerable.Range(0, 300_000).Select(_ => "ab \r\n"[rng.Next(5)])]) + "\r";   // \r\n pairs across the 64 Ki buffer too
        var expected = new List<string>();
        using (var r = new StringReader(text)) while (r.ReadLine() is { } l) expected.Add(l);
        Assert.Equal(expected, TextLines.Read(new StringReader(text)).Select(l => l.Text!));
        foreach (var t in new[] { "", "\n", "a", "a\n", "\r\n\r\n", "a\rb\r\nc" })
        {
            var lines = new List<string>();
            using (var r = new StringReader(t)) while (r.ReadLine() is { } l) lines.Add(l);
            Assert.Equal(lines, TextLines.Read(new StringReader(t)).Select(l => l.Text!));
        }

        var capped = TextLines.Read(new StringReader("short\n" + new string('x', 200_000) + "\nok"), maxChars: 10).ToList();
        Assert.Equal([new("short", 5), new(null, 200_000), new("ok", 2)], capped);
    }

    [Fact]
    public void LoneSurrogateInAJsonlLineIsQuarantinedByPrepareAndOneErrorForTokenize()
    {
        var file = Path.Combine(NewDir(), "web.jsonl");
        File.WriteAllLines(file, [JsonSerializer.Serialize(new { text = CurationPipelineTests.Prose(3) }), "{\"text\": \"bad \\ud800 half\"}",
            "{\"text\": \"reversed \\udc00\\ud800 pair\"}"]);
        var outDir = NewDir();
        var r = CurationPipeline.Run(new CurationOptions { Sources = [new SourceSpec("web", file)], TokenizerDir = Tokenizer(), OutDir = outDir });
        Assert.Equal((3, 1, 2L), (r.Manifest.Sources[0].In, r.Manifest.Sources[0].Kept, r.Manifest.Sources[0].Quarantined["read/lone_surrogate"]));
        Assert.Contains($"{file}:2", File.ReadAllText(Path.Combine(outDir, CurationPipeline.QuarantineFile)));

        var ex = Assert.Throws<SeekSharpException>(() => DataTokenization.Run([file], Encode, Vocab, "ab", 1, 2, NewDir()));
        Assert.Contains($"{file}, line 2", ex.Message);
        Assert.Contains("surrogate", ex.Message);
    }

    [Theory]
    [InlineData("s=x:1e9")]
    [InlineData("s=x:100.5")]
    public void AWeightOverOneHundredIsRefused(string spec)
    {
        var ex = Assert.Throws<SeekSharpException>(() => SourceSpec.Parse(spec));
        Assert.Contains("100", ex.Message);
        Assert.Equal(100, SourceSpec.Parse("s=x:100").Weight);
        ex = Assert.Throws<SeekSharpException>(() => CurationPipeline.Run(new CurationOptions
            { Sources = [new SourceSpec("s", NewDir(), 1e9)], TokenizerDir = Tokenizer(), OutDir = NewDir() }));
        Assert.Contains("--source s", ex.Message);
    }

    [Fact]
    public void OutputPastMaxTokensStopsWithAnErrorNamingTheFlag()
    {
        var dir = NewDir();
        for (var i = 0; i < 3; i++) File.WriteAllText(Path.Combine(dir, $"d{i}.txt"), CurationPipelineTests.Prose(i));
        var outDir = NewDir();
        var ex = Assert.Throws<SeekSharpException>(() => CurationPipeline.Run(new CurationOptions
            { Sources = [new SourceSpec("s", dir, 100)], TokenizerDir = Tokenizer(), OutDir = outDir, MaxTokens = 5_000 }));
        Assert.Contains("--max-tokens 5000", ex.Message);
        Assert.False(File.Exists(Path.Combine(outDir, CurationManifest.FileName)));
    }

    [Fact]
    public void TokenizeOfOnlyUnreadableInputsIsOneErrorNamingTheReasons()
    {
        if (OperatingSystem.IsWindows()) return;
        var dir = NewDir();
        AddHostile(dir, "dev_zero");
        var ex = Assert.Throws<SeekSharpException>(() => DataTokenization.Run([Path.Combine(dir, "zero.txt")], Encode, Vocab, "ab", 1, 2, NewDir()));
        Assert.Contains("not_regular 1", ex.Message);
    }

    // Through the real `seek` process: a hang (a FIFO read, a loop walked forever) fails the test at the timeout.
    [Fact]
    public void SeekPrepareAndTokenizeFinishOnAFolderOfLoopsFifosAndDevices()
    {
        if (OperatingSystem.IsWindows()) return;
        var dir = NewDir();
        File.WriteAllText(Path.Combine(dir, "good.txt"), CurationPipelineTests.Prose(1));
        foreach (var kind in new[] { "fifo", "dev_zero", "dir_loop", "self_link", "bad_name", "hidden_dir", "binary" }) AddHostile(dir, kind);
        var tok = Tokenizer();

        var outDir = NewDir();
        var (code, stdout, stderr) = SeekProcess.Run(["data", "prepare", "--source", $"s={dir}", "--tokenizer", tok, "--out", outDir]);
        Assert.True(code == 0, stdout + stderr);
        var m = CurationManifest.Load(Path.Combine(outDir, CurationManifest.FileName));
        Assert.Equal((8, 7L, 1), (m.Totals.In, m.Totals.QuarantinedTotal, m.Totals.Kept));
        (code, stdout, stderr) = SeekProcess.Run(["data", "tokenize", "--input", dir, "--tokenizer", tok, "--out", NewDir()]);
        Assert.True(code == 0, stdout + stderr);
        Assert.Contains("files not read: 7 skipped (bad_name 1, binary 1, hidden 1, link_loop 2, not_regular 2)", stdout.Replace("\n", ""));
    }

    [Fact]
    public void SeekPrepareRefusesAHugeWeightInOneErrorLine()
    {
        var file = Path.Combine(NewDir(), "a.txt");
        File.WriteAllText(file, CurationPipelineTests.Prose(1));
        var (code, stdout, stderr) = SeekProcess.Run(["data", "prepare", "--source", $"s={file}:1e9", "--tokenizer", Tokenizer(), "--out", NewDir()]);
        Assert.Equal(1, code);
        var lines = (stdout + stderr).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.StartsWith("error:", lines[0]);
        Assert.Contains("1e9", string.Concat(lines));
        Assert.DoesNotContain("   at ", stdout + stderr);
    }
}
