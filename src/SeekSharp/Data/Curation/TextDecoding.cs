using System.Text;
using System.Text.Unicode;

namespace SeekSharp.Data.Curation;

/// <summary>How a byte sequence became text.</summary>
/// <param name="Text">The decoded text; null when <paramref name="Problem"/> is set.</param>
/// <param name="Encoding">utf-8, utf-16le/be, windows-1252, iso-8859-1, or the MIME charset honoured.</param>
/// <param name="Repaired">True when the bytes were not clean UTF-8 (legacy encoding guessed, or bad bytes replaced).</param>
/// <param name="Problem">"binary" when the bytes are not text; the caller quarantines.</param>
public sealed record DecodeResult(string? Text, string Encoding, bool Repaired, string? Problem);

// Design: strict UTF-8 first (Utf8.IsValid, no exceptions on the hot path), then a legacy 8-bit guess.
// windows-1252 vs ISO-8859-1 differ only in 0x80-0x9F: printable punctuation (smart quotes, dashes,
// euro) in 1252, C1 control codes in Latin-1 that real text never contains, so any byte there means
// 1252 (as WHATWG does for the iso-8859-1 label too); without such bytes the two decode identically
// and we name it iso-8859-1. Mostly-UTF-8 text with a few stray bytes (a common mail corruption)
// stays UTF-8 with U+FFFD for the bad bytes rather than being mojibaked wholesale as 1252.
// Binary: any NUL, or more than 30% control bytes; UTF-16 is only accepted with a BOM.
public static class TextDecoding
{
    private static readonly UTF8Encoding Utf8Lossy = new(false, false);

    static TextDecoding() => Encoding.RegisterProvider(CodePagesEncodingProvider.Instance);

    public static DecodeResult Decode(byte[] bytes)
    {
        ReadOnlySpan<byte> b = bytes;
        if (b.StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF])) b = b[3..];
        else if (b.StartsWith((ReadOnlySpan<byte>)[0xFF, 0xFE])) return new(Encoding.Unicode.GetString(b[2..]), "utf-16le", false, null);
        else if (b.StartsWith((ReadOnlySpan<byte>)[0xFE, 0xFF])) return new(Encoding.BigEndianUnicode.GetString(b[2..]), "utf-16be", false, null);

        if (LooksBinary(b)) return new(null, "binary", false, "binary");
        if (Utf8.IsValid(b)) return new(Encoding.UTF8.GetString(b), "utf-8", false, null);
        if (MostlyUtf8(b)) return new(Utf8Lossy.GetString(b), "utf-8", true, null);
        return Legacy(b);
    }

    /// <summary>Decodes with a MIME charset label, falling back to detection when the label is unknown or lies.</summary>
    public static DecodeResult Decode(byte[] bytes, string? charset)
    {
        var label = (charset ?? "").Trim().Trim('"', '\'').ToLowerInvariant();
        // ASCII and UTF-8 labels are often wrong about 8-bit content: detection handles both honestly.
        if (label is "" or "us-ascii" or "ascii" or "utf-8" or "utf8" or "unicode-1-1-utf-8" or "x-unknown" or "unknown-8bit" or "default")
            return Decode(bytes);
        if (LooksBinary(bytes)) return new(null, "binary", false, "binary");
        if (label is "iso-8859-1" or "iso8859-1" or "latin1" or "latin-1" or "l1" or "windows-1252" or "cp1252" or "x-cp1252")
            return Utf8.IsValid(bytes) && HasHighBytes(bytes) ? new(Encoding.UTF8.GetString(bytes), "utf-8", true, null) : Legacy(bytes);
        Encoding enc;
        try { enc = Encoding.GetEncoding(label); }
        catch (ArgumentException)
        {
            var d = Decode(bytes);
            return d with { Repaired = true };
        }
        return new(enc.GetString(bytes), enc.WebName, false, null);
    }

    private static DecodeResult Legacy(ReadOnlySpan<byte> b)
    {
        foreach (var x in b)
            if (x is >= 0x80 and <= 0x9F)
                return new(Encoding.GetEncoding(1252).GetString(b), "windows-1252", true, null);
        return new(Encoding.Latin1.GetString(b), "iso-8859-1", true, null);
    }

    private static bool HasHighBytes(ReadOnlySpan<byte> b) => b.IndexOfAnyInRange((byte)0x80, (byte)0xFF) >= 0;

    internal static bool LooksBinary(ReadOnlySpan<byte> b)
    {
        if (b.IndexOf((byte)0) >= 0) return true;
        if (b.Length == 0) return false;
        var control = 0;
        foreach (var x in b)
            if ((x < 0x20 && x is not (byte)'\n' and not (byte)'\r' and not (byte)'\t' and not 0x0C and not 0x1B) || x == 0x7F)
                control++;
        return control * 10 > b.Length * 3;
    }

    // Counts well-formed multi-byte sequences against stray high bytes: Latin-1 text almost never
    // forms valid UTF-8 sequences by accident, so a majority of valid ones means "UTF-8, damaged".
    private static bool MostlyUtf8(ReadOnlySpan<byte> b)
    {
        int valid = 0, invalid = 0;
        var i = 0;
        while (i < b.Length)
        {
            var x = b[i];
            if (x < 0x80) { i++; continue; }
            var n = x >= 0xF0 && x <= 0xF4 ? 4 : x >= 0xE0 && x <= 0xEF ? 3 : x >= 0xC2 && x <= 0xDF ? 2 : 0;
            if (n > 0 && i + n <= b.Length && Utf8.IsValid(b.Slice(i, n))) { valid++; i += n; }
            else { invalid++; i++; }
        }
        return valid > 0 && invalid <= valid;
    }
}
