using System.Reflection;
using System.Text.Json;
using SeekSharp.Serving;

namespace SeekSharp.Server.Billing;

// Prices are per million tokens in three classes, as DeepSeek bills: prompt tokens served from the
// prefix cache, the other prompt tokens, and generated tokens (reasoning included). The default file is
// an example with a cited source (Billing/pricing.default.json), not a claim about what serving costs.

/// <summary>USD per million tokens for cache-hit input, cache-miss input and output.</summary>
public sealed record Pricing(double InputCacheHitPerMillion, double InputCacheMissPerMillion, double OutputPerMillion, string Description = "")
{
    public const string DefaultResource = "SeekSharp.Server.pricing.default.json";

    /// <summary>USD, rounded to 1e-12 (a millionth of a micro-dollar) so that binary float noise such as
    /// 1.0420000000000002E-05 does not reach usage.cost_usd; sums of such costs stay exact to far below a cent.</summary>
    public double Cost(int cacheHitTokens, int cacheMissTokens, int outputTokens) =>
        Math.Round((cacheHitTokens * InputCacheHitPerMillion + cacheMissTokens * InputCacheMissPerMillion + outputTokens * OutputPerMillion) / 1e6, 12);

    public double Cost(GenerationUsage u) => Cost(u.CachedPromptTokens, u.PromptTokens - u.CachedPromptTokens, u.CompletionTokens);

    /// <summary>The example price list shipped in the assembly.</summary>
    public static Pricing Default { get; } = LoadDefault();

    static Pricing LoadDefault()
    {
        using var s = Assembly.GetExecutingAssembly().GetManifestResourceStream(DefaultResource)
            ?? throw new InvalidOperationException($"embedded resource {DefaultResource} is missing");
        using var r = new StreamReader(s);
        return Parse(r.ReadToEnd(), "pricing.default.json");
    }

    public static Pricing Load(string path)
    {
        string text;
        try { text = File.ReadAllText(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SeekSharpException($"{path}: cannot read the pricing file ({e.Message}).", e);
        }
        return Parse(text, path);
    }

    /// <param name="source">names the file in error messages</param>
    public static Pricing Parse(string json, string source)
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(json); }
        catch (JsonException e) { throw new SeekSharpException($"{source}: malformed JSON ({e.Message}).", e); }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new SeekSharpException($"{source}: expected a JSON object with the three prices.");
            if (root.TryGetProperty("currency", out var cur) && !(cur.ValueKind == JsonValueKind.String && cur.GetString() == "USD"))
                throw new SeekSharpException($"{source}: currency: expected \"USD\" (costs are reported in USD), got {cur.GetRawText()}.");
            string description = root.TryGetProperty("description", out var d) && d.ValueKind == JsonValueKind.String ? d.GetString()! : "";
            return new Pricing(Price(root, "input_cache_hit_per_million", source), Price(root, "input_cache_miss_per_million", source),
                Price(root, "output_per_million", source), description);
        }
    }

    static double Price(JsonElement root, string field, string source)
    {
        if (!root.TryGetProperty(field, out var v))
            throw new SeekSharpException($"{source}: {field}: missing (expected USD per million tokens, a number >= 0).");
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetDouble(out var x) || !(x >= 0) || double.IsInfinity(x))
            throw new SeekSharpException($"{source}: {field}: expected USD per million tokens, a number >= 0, got {v.GetRawText()}.");
        return x;
    }
}
