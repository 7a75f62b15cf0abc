using SeekSharp.Server.Billing;
using SeekSharp.Serving;

namespace SeekSharp.Tests.Server;

public class PricingTests : TempDirTest
{
    [Fact]
    public void DefaultPriceListIsTheDocumentedDeepSeekExample()
    {
        var p = Pricing.Default;
        Assert.Equal(0.07, p.InputCacheHitPerMillion);
        Assert.Equal(0.27, p.InputCacheMissPerMillion);
        Assert.Equal(1.10, p.OutputPerMillion);
        Assert.Contains("api-docs.deepseek.com", p.Description);
        Assert.Contains("EXAMPLE", p.Description);
    }

    [Fact]
    public void CostIsPerMillionTokensInThreeClasses()
    {
        var p = new Pricing(0.5, 2, 8);
        Assert.Equal((300 * 0.5 + 700 * 2 + 50 * 8) / 1e6, p.Cost(new GenerationUsage(1000, 300, 50, FinishReason.Stop)), 15);
        Assert.Equal(0, p.Cost(0, 0, 0));
    }

    [Fact]
    public void CostCarriesNoBinaryFloatNoise()
    {
        // 8 cache-hit, 38 miss, 0 output tokens at DeepSeek's example prices: 1.082E-05, not 1.0820000000000001E-05.
        var cost = Pricing.Default.Cost(8, 38, 0);
        Assert.Equal("1.082E-05", cost.ToString("R", System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal("1.082E-05", System.Text.Json.JsonSerializer.Serialize(cost));
    }

    [Theory]
    [InlineData("{", "malformed JSON")]
    [InlineData("[]", "expected a JSON object")]
    [InlineData("""{"input_cache_miss_per_million":1,"output_per_million":1}""", "input_cache_hit_per_million: missing")]
    [InlineData("""{"input_cache_hit_per_million":1,"input_cache_miss_per_million":"1","output_per_million":1}""", "input_cache_miss_per_million: expected")]
    [InlineData("""{"input_cache_hit_per_million":1,"input_cache_miss_per_million":1,"output_per_million":-1}""", "output_per_million: expected")]
    [InlineData("""{"currency":"EUR","input_cache_hit_per_million":1,"input_cache_miss_per_million":1,"output_per_million":1}""", "currency")]
    public void MalformedPricingFileNamesTheFileAndField(string json, string expected)
    {
        var path = Path.Combine(NewDir(), "prices.json");
        File.WriteAllText(path, json);
        var e = Assert.Throws<SeekSharpException>(() => Pricing.Load(path));
        Assert.Contains(path, e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void PricingFileLoads()
    {
        var path = Path.Combine(NewDir(), "prices.json");
        File.WriteAllText(path, """{"description":"mine","input_cache_hit_per_million":0.028,"input_cache_miss_per_million":0.28,"output_per_million":0.42}""");
        Assert.Equal(new Pricing(0.028, 0.28, 0.42, "mine"), Pricing.Load(path));
        Assert.Contains("cannot read", Assert.Throws<SeekSharpException>(() => Pricing.Load(path + ".missing")).Message);
    }
}
