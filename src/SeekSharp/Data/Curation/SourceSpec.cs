using System.Globalization;
using System.Text.RegularExpressions;

namespace SeekSharp.Data.Curation;

/// <summary>One named input of the curation pipeline: a file or folder, its mixing weight, and how to read it.</summary>
/// <param name="Name">The user's name for the source; letters, digits, '-' and '_'.</param>
/// <param name="Path">A file or a folder (walked recursively).</param>
/// <param name="Weight">Relative sampling weight, in (0, <see cref="MaxWeight"/>].</param>
/// <param name="Field">The JSONL field that holds the text.</param>
/// <param name="Column">The CSV/Parquet column that holds the text.</param>
/// <param name="Format">Forces one format (text, markdown, jsonl, csv, parquet, html, email); null detects per file.</param>
public sealed partial record SourceSpec(string Name, string Path, double Weight = 1.0, string Field = "text", string Column = "text", string? Format = null)
{
    /// <summary>The largest weight: 100 copies of a source is already far past where upsampling helps
    /// (repeated data stops teaching after a few epochs), and 10^9 (a typo) would write terabytes.</summary>
    public const double MaxWeight = 100;

    public static readonly IReadOnlyList<string> Formats = ["text", "markdown", "jsonl", "csv", "parquet", "html", "email"];

    // Design: the weight is split off at the LAST colon only when what follows parses as a number, so
    // paths that contain colons (C:\data, urls-like names) still work when no weight is given.
    public static SourceSpec Parse(string spec)
    {
        var eq = spec.IndexOf('=');
        if (eq < 0)
            throw new SeekSharpException($"--source \"{spec}\": expected NAME=PATH[:WEIGHT], e.g. web=data/web:2.");
        var name = spec[..eq].Trim();
        if (!NameRegex().IsMatch(name))
            throw new SeekSharpException($"--source \"{spec}\": the name \"{name}\" must be non-empty and use only letters, digits, '-' and '_'.");
        var rest = spec[(eq + 1)..];
        var path = rest;
        var weight = 1.0;
        var colon = rest.LastIndexOf(':');
        if (colon >= 0)
        {
            var w = rest[(colon + 1)..];
            var looksNumeric = w.Length > 0 && w.All(c => char.IsAsciiDigit(c) || c is '.' or '-' or '+' or 'e' or 'E');
            if (looksNumeric || w.Length == 0)
            {
                if (!double.TryParse(w, NumberStyles.Float, CultureInfo.InvariantCulture, out weight) || !double.IsFinite(weight) || weight <= 0)
                    throw new SeekSharpException($"--source \"{spec}\": the weight \"{w}\" must be a positive number.");
                if (weight > MaxWeight)
                    throw new SeekSharpException($"--source \"{spec}\": the weight {w} is more than {MaxWeight}, the most a source may be upsampled.");
                path = rest[..colon];
            }
        }
        if (path.Trim().Length == 0)
            throw new SeekSharpException($"--source \"{spec}\": the path is empty; expected NAME=PATH[:WEIGHT].");
        return new SourceSpec(name, path, weight);
    }

    [GeneratedRegex("^[A-Za-z0-9_-]+$")]
    private static partial Regex NameRegex();
}
