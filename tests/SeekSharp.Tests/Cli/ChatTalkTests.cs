using SeekSharp.Ledger;
using SeekSharp.Tests.Alignment;

namespace SeekSharp.Tests.Cli;

/// <summary>`seek chat talk`: the interactive chat, whose ledger measures the time spent waiting for the person.</summary>
[Collection("Console")]
public class ChatTalkTests : TempDirTest
{
    /// <summary>Input typed by a person who takes <paramref name="think"/> to type each line.</summary>
    sealed class SlowTyping(TimeSpan think, params string[] lines) : TextReader
    {
        int next;
        public int Reads { get; private set; }

        public override string? ReadLine()
        {
            Reads++;
            Thread.Sleep(think);
            return next < lines.Length ? lines[next++] : null;
        }
    }

    [Fact]
    public void TimeWaitingForInputIsAttendedTimeInThePeopleResource()
    {
        using var folder = new ChatModelFolder();
        var path = Path.Combine(NewDir(), "talk.json");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var typing = new SlowTyping(TimeSpan.FromMilliseconds(200), "What is 2 + 3?", "", "and 4 + 4?");
        var old = Console.In;
        Console.SetIn(typing);
        (int code, string output) r;
        try { r = CliTests.Run("chat", "talk", "--model", folder.ModelDir, "--max-tokens", "3", "--temperature", "0", "--ledger", path, "--hardware", "cpu"); }
        finally { Console.SetIn(old); }
        Assert.True(r.code == 0, r.output);
        Assert.Equal(4, typing.Reads); // three lines (one empty, skipped) and the end of input
        Assert.Contains("waiting for you; ledger: " + path, r.output);

        var e = LedgerEntry.Read(path);
        Assert.Equal("chat-talk", e.Kind);
        Assert.True(e.AttendedSeconds >= 0.8, $"attended {e.AttendedSeconds} s"); // four reads of at least 200 ms each
        Assert.True(e.AttendedSeconds <= e.WallSeconds);
        Assert.True(e.Tokens > 0 && e.ModelFlops > 0);
        var people = e.Resources.Where(l => l.Resource == "people").ToDictionary(l => l.Quantity);
        Assert.Equal(e.AttendedSeconds!.Value / 3600, people["attended hours"].Value!.Value, 12);
        Assert.Equal(Provenance.Measured, people["attended hours"].Method);
        Assert.Equal(Provenance.Measured, people["person-hours"].Method); // the cpu profile declares no hours
        Assert.Equal(people["attended hours"].Value, people["person-hours"].Value);
    }

    [Fact]
    public void DeclaredAndAttendedHoursAddUp()
    {
        var hw = HardwareProfile.Default with { PeopleHours = new() { ["chat-talk"] = 0.5 }, UsdPerPersonHour = 40 };
        var e = LedgerEntry.Compute("chat-talk", DateTime.UnixEpoch, DateTime.UnixEpoch.AddHours(1), 3600, 10, 0, 0, 0, EnergyMeter.ModelMethod, hw)
            with { AttendedSeconds = 1800 };
        var line = e.Resources.Single(l => l.Quantity == "person-hours");
        Assert.Equal(1.0, line.Value);
        Assert.Equal(LedgerTotal.MixedMethod, line.Method);
        Assert.Equal(40.0, line.Usd);
        var path = Path.Combine(NewDir(), "l.json");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        (e with { AttendedSeconds = 4000 }).Write(path);
        Assert.Contains("attended_seconds", Assert.Throws<SeekSharpException>(() => LedgerEntry.Read(path)).Message); // more than the wall time
    }
}
