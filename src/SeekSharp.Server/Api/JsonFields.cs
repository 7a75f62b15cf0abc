using System.Text.Json;

namespace SeekSharp.Server.Api;

/// <summary>Typed, optional fields of a request object; a wrong type or range is a 400 naming the field.</summary>
public static class JsonFields
{
    /// <summary>The field's value, or null when it is absent or JSON null (OpenAI treats both as "default").</summary>
    public static JsonElement? Get(JsonElement obj, string name) =>
        obj.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null ? v : null;

    public static string? String(JsonElement obj, string name, string? param = null)
    {
        if (Get(obj, name) is not { } v) return null;
        return v.ValueKind == JsonValueKind.String ? v.GetString() : throw Wrong(param ?? name, "a string", v);
    }

    public static bool? Bool(JsonElement obj, string name)
    {
        if (Get(obj, name) is not { } v) return null;
        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw Wrong(name, "a boolean", v),
        };
    }

    public static long? Integer(JsonElement obj, string name, long min, long max)
    {
        if (Get(obj, name) is not { } v) return null;
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt64(out var x))
            throw Wrong(name, "an integer", v);
        if (x < min || x > max)
            throw ApiException.BadRequest(name, $"Invalid '{name}': expected an integer from {min} to {max}, got {x}.");
        return x;
    }

    public static double? Number(JsonElement obj, string name, double min, double max, bool minExclusive = false)
    {
        if (Get(obj, name) is not { } v) return null;
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetDouble(out var x)) throw Wrong(name, "a number", v);
        if (x < min || x > max || (minExclusive && x == min))
            throw ApiException.BadRequest(name, $"Invalid '{name}': expected a number in {(minExclusive ? "(" : "[")}{min}, {max}], got {x}.");
        return x;
    }

    public static ApiException Wrong(string param, string expected, JsonElement got) =>
        ApiException.BadRequest(param, $"Invalid type for '{param}': expected {expected}, got {JsonBody.Kind(got)}.", "invalid_type");
}
