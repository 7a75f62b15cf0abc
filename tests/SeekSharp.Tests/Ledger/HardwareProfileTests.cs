using SeekSharp.Ledger;

namespace SeekSharp.Tests.Ledger;

public class HardwareProfileTests
{
    private const string Valid = """
        { "name": "box", "cores": 4, "cpu_watts_idle": 10, "cpu_watts_max": 65, "other_watts": 5,
          "pue": 1.0, "usd_per_hour": 0.05, "usd_per_kwh": 0.3, "grams_co2_per_kwh": 300 }
        """;

    [Fact]
    public void SaveLoadRoundTrips()
    {
        using var dir = new TempDir();
        var path = dir.File("hw.json");
        HardwareProfile.Default.Save(path);
        Assert.Equal(HardwareProfile.Default, HardwareProfile.Load(path));
        Assert.Contains("\"grams_co2_per_kwh\"", File.ReadAllText(path));
    }

    [Fact]
    public void OptionalFieldsTakeDefaults()
    {
        using var dir = new TempDir();
        var path = dir.File("hw.json");
        File.WriteAllText(path, """
            { "name": "box", "cores": 4, "cpu_watts_idle": 10, "cpu_watts_max": 65,
              "usd_per_hour": 0, "usd_per_kwh": 0.3, "grams_co2_per_kwh": 300 }
            """);
        var hw = HardwareProfile.Load(path);
        Assert.Equal(1.0, hw.Pue);
        Assert.Equal(1.0, hw.OtherWatts);
    }

    [Theory]
    [InlineData("\"cpu_watts_max\": 65,", "", "cpu_watts_max")] // missing
    [InlineData("\"usd_per_kwh\": 0.3", "\"usd_per_kwh\": -0.3", "usd_per_kwh")] // negative
    [InlineData("\"cores\": 4", "\"cores\": 0", "cores")]
    [InlineData("\"pue\": 1.0", "\"pue\": 0.5", "pue")]
    [InlineData("\"cpu_watts_max\": 65", "\"cpu_watts_max\": 5", "cpu_watts_max")] // below idle
    [InlineData("\"grams_co2_per_kwh\": 300", "\"grams_co2_per_kwh\": null", "grams_co2_per_kwh")]
    [InlineData("\"usd_per_hour\": 0.05", "\"usd_per_hr\": 0.05", "usd_per_hr")] // typo, unknown field
    [InlineData("\"name\": \"box\"", "\"name\": \"\"", "name")]
    public void InvalidFieldIsNamed(string from, string to, string field)
    {
        using var dir = new TempDir();
        var path = dir.File("hw.json");
        Assert.Contains(from, Valid);
        File.WriteAllText(path, Valid.Replace(from, to));
        var e = Assert.Throws<SeekSharpException>(() => HardwareProfile.Load(path));
        Assert.Contains(path, e.Message);
        Assert.Contains(field, e.Message);
    }

    [Fact]
    public void MalformedJsonNamesFile()
    {
        using var dir = new TempDir();
        var path = dir.File("hw.json");
        File.WriteAllText(path, "{ \"name\": \"box\", ");
        var e = Assert.Throws<SeekSharpException>(() => HardwareProfile.Load(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("invalid JSON", e.Message);
    }

    [Fact]
    public void MissingFileNamesFile()
    {
        using var dir = new TempDir();
        var path = dir.File("nope.json");
        var e = Assert.Throws<SeekSharpException>(() => HardwareProfile.Load(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("not found", e.Message);
    }

    [Fact]
    public void ResolvePrefersExplicitPath()
    {
        using var dir = new TempDir();
        var path = dir.File("hw.json");
        File.WriteAllText(path, Valid);
        Assert.Equal("box", HardwareProfile.Resolve(path).Name);
    }

    [Fact]
    public void DefaultIsValid() => HardwareProfile.Default.Validate("default");
}
