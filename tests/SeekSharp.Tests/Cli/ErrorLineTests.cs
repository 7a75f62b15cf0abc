namespace SeekSharp.Tests.Cli;

/// <summary>
/// An error is ONE line `error: ...` on stderr, exit 1, whatever the console width and whether or not
/// output goes to a terminal: scripts read it with `2>&amp;1 | tail -1`. Checked on the real process.
/// </summary>
public class ErrorLineTests : TempDirTest
{
    static void AssertOneErrorLine((int Code, string Out, string Err) r, string mustContain)
    {
        Assert.Equal(1, r.Code);
        var lines = r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, $"stderr has {lines.Length} lines:\n{r.Err}");
        Assert.StartsWith("error: ", lines[0]);
        Assert.Contains(mustContain, lines[0]);
        Assert.DoesNotContain("error:", r.Out);
        Assert.DoesNotContain("   at ", r.Err + r.Out);
    }

    [Fact]
    public void A_long_user_error_is_one_unwrapped_line_on_stderr()
    {
        // A path long enough that an 80-column wrap would split the line.
        var missing = Path.Combine(NewDir(), new string('m', 60), "no-such-model-folder");
        AssertOneErrorLine(SeekProcess.Run("generate", "--model", missing, "--prompt", "hi"), missing);
        AssertOneErrorLine(SeekProcess.Run("base", "train", "--data", missing, "--out", NewDir(), "--steps", "1"), missing);
    }

    [Fact]
    public void Flags_the_parser_rejects_are_one_line_without_the_help_page()
    {
        var r = SeekProcess.Run("base", "train", "--bogus");
        AssertOneErrorLine(r, "--bogus");
        Assert.Contains("seek base train --help", r.Err);
        Assert.DoesNotContain("Usage:", r.Out);

        AssertOneErrorLine(SeekProcess.Run("generate", "--model", NewDir(), "--prompt", "hi", "--max-tokens", "many"), "many");
        AssertOneErrorLine(SeekProcess.Run("no-such-command"), "no-such-command");
    }

    [Fact]
    public void Help_still_prints_and_exits_zero()
    {
        var r = SeekProcess.Run("base", "train", "--help");
        Assert.Equal(0, r.Code);
        Assert.Contains("--resume", r.Out);
        Assert.Equal("", r.Err);
    }
}
