using System.Buffers;
using System.Text;
using System.Text.RegularExpressions;

namespace SeekSharp.Data.Curation;

/// <summary>Unfolded RFC 822 headers; the first occurrence of a name wins (later ones are usually forged or relayed).</summary>
internal sealed class MimeHeaders
{
    private readonly Dictionary<string, string> values = new(StringComparer.OrdinalIgnoreCase);
    public void Add(string name, string value) => values.TryAdd(name, value);
    public string? Get(string name) => values.TryGetValue(name, out var v) ? v : null;
    public int Count => values.Count;
}

// Design: MIME mechanics on Latin-1 strings (one char per byte, see MailExtractor). Everything is
// tolerant, because spam is malformed on purpose: a missing blank line after the headers, a base64
// body with junk characters, a quoted-printable '=' followed by non-hex, a multipart whose closing
// boundary never comes. Nothing here throws on bad input; it recovers what text it can.
internal static partial class MimePart
{
    /// <summary>Splits a message or part into headers and body at the first empty line.</summary>
    public static (MimeHeaders Headers, string Body) Split(string part)
    {
        var headers = new MimeHeaders();
        var pos = 0;
        // An mbox "From " separator line is not a header.
        if (part.StartsWith("From ", StringComparison.Ordinal)) pos = NextLine(part, 0);
        string? name = null;
        var value = new StringBuilder();
        while (pos < part.Length)
        {
            var next = NextLine(part, pos);
            var line = part.AsSpan(pos, next - pos).TrimEnd("\r\n");
            if (line.IsEmpty) { pos = next; break; }
            if ((line[0] == ' ' || line[0] == '\t') && name is not null)
            {
                value.Append(' ').Append(line.Trim());   // folded continuation
            }
            else
            {
                var colon = line.IndexOf(':');
                if (colon <= 0 || line[..colon].ContainsAny(' ', '\t'))
                {
                    // Not a header: the header block ended without a blank line (or there was none).
                    if (name is null && headers.Count == 0) return (headers, part[pos..]);
                    break;
                }
                if (name is not null) headers.Add(name, value.ToString());
                name = line[..colon].ToString();
                value.Clear().Append(line[(colon + 1)..].Trim());
            }
            pos = next;
        }
        if (name is not null) headers.Add(name, value.ToString());
        return (headers, pos <= part.Length ? part[pos..] : "");
    }

    private static int NextLine(string s, int from)
    {
        var nl = s.IndexOf('\n', from);
        return nl < 0 ? s.Length : nl + 1;
    }

    /// <summary>"text/plain; charset=x" → ("text/plain", {charset: x}); a missing header means text/plain.</summary>
    public static (string Type, Dictionary<string, string> Params) ContentType(string? header)
    {
        var p = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        if (string.IsNullOrWhiteSpace(header)) return ("text/plain", p);
        var semi = header.IndexOf(';');
        var type = (semi < 0 ? header : header[..semi]).Trim().ToLowerInvariant();
        if (semi >= 0)
            foreach (Match m in ParamRegex().Matches(header, semi))
                p.TryAdd(m.Groups[1].Value, m.Groups[2].Success ? m.Groups[2].Value : m.Groups[3].Value.Trim());
        return (type.Length == 0 ? "text/plain" : type, p);
    }

    [GeneratedRegex("""([A-Za-z0-9_*.-]+)\s*=\s*(?:"([^"]*)"|([^;]*))""")]
    private static partial Regex ParamRegex();

    /// <summary>The bodies between "--boundary" lines; a missing closing boundary ends at the end of the text.</summary>
    public static List<string> SplitMultipart(string body, string boundary)
    {
        var parts = new List<string>();
        var delim = "--" + boundary;
        var pos = 0;
        int start = -1;
        while (pos < body.Length)
        {
            var next = NextLine(body, pos);
            var line = body.AsSpan(pos, next - pos).TrimEnd("\r\n \t");
            if (line.StartsWith(delim, StringComparison.Ordinal))
            {
                if (start >= 0) parts.Add(body[start..pos]);
                var tail = line[delim.Length..];
                if (tail.StartsWith("--")) return parts;
                start = next;   // trailing junk after the delimiter still makes it a delimiter
            }
            pos = next;
        }
        if (start >= 0 && start < body.Length) parts.Add(body[start..]);
        return parts;
    }

    public static string DecodeTransfer(string? encoding, string body) =>
        IsEncoded(encoding, out var qp) ? Encoding.Latin1.GetString(qp ? QuotedPrintable(body, header: false) : Base64(body)) : body;

    /// <summary>The bytes of a part body after its transfer encoding (as Latin-1 bytes when there is none).</summary>
    public static byte[] DecodeTransferBytes(string? encoding, string body) =>
        IsEncoded(encoding, out var qp) ? qp ? QuotedPrintable(body, header: false) : Base64(body) : Encoding.Latin1.GetBytes(body);

    // The header value trimmed and lowercased (invariant), compared without making a string.
    static bool IsEncoded(string? encoding, out bool quotedPrintable)
    {
        var e = (encoding ?? "").AsSpan().Trim();
        Span<char> lower = stackalloc char[16];
        quotedPrintable = false;
        if (e.Length > lower.Length) return false;
        e.ToLowerInvariant(lower);
        lower = lower[..e.Length];
        quotedPrintable = lower.SequenceEqual("quoted-printable");
        return quotedPrintable || lower.SequenceEqual("base64");
    }

    public static byte[] QuotedPrintable(string s, bool header)
    {
        var outp = new byte[s.Length];   // decoding never lengthens
        var n = 0;
        for (var i = 0; i < s.Length; i++)
        {
            var c = s[i];
            if (header && c == '_') { outp[n++] = (byte)' '; continue; }
            if (c != '=') { outp[n++] = (byte)c; continue; }
            // Soft line break: "=" then optional trailing whitespace then end of line.
            var j = i + 1;
            while (j < s.Length && s[j] is ' ' or '\t') j++;
            if (j < s.Length && s[j] is '\r' or '\n')
            {
                if (s[j] == '\r' && j + 1 < s.Length && s[j + 1] == '\n') j++;
                i = j;
                continue;
            }
            if (j == s.Length) { i = j; continue; }
            if (i + 2 < s.Length && char.IsAsciiHexDigit(s[i + 1]) && char.IsAsciiHexDigit(s[i + 2]))
            {
                outp[n++] = (byte)(HexValue(s[i + 1]) << 4 | HexValue(s[i + 2]));
                i += 2;
                continue;
            }
            outp[n++] = (byte)'=';   // not an escape: keep literally
        }
        return n == outp.Length ? outp : outp[..n];
    }

    static int HexValue(char h) => h <= '9' ? h - '0' : (h | 0x20) - 'a' + 10;

    /// <summary>Lenient base64: ignores characters outside the alphabet and a dangling partial quantum.</summary>
    public static byte[] Base64(string s)
    {
        var chars = ArrayPool<char>.Shared.Rent(s.Length + 4);
        try
        {
            var n = 0;
            foreach (var c in s)
            {
                if (char.IsAsciiLetterOrDigit(c) || c is '+' or '/') chars[n++] = c;
                else if (c == '=') break;   // padding ends the data
            }
            var usable = n - n % 4;
            var rem = n % 4;
            if (rem >= 2) { chars.AsSpan(n, 4 - rem).Fill('='); usable = n + 4 - rem; }
            var bytes = new byte[usable / 4 * 3];
            return Convert.TryFromBase64Chars(chars.AsSpan(0, usable), bytes, out var written) ? bytes[..written] : [];
        }
        finally { ArrayPool<char>.Shared.Return(chars); }
    }

    /// <summary>Decodes RFC 2047 encoded words (=?charset?B|Q?text?=) in a header value.</summary>
    public static string DecodeWords(string value)
    {
        // Whitespace between two adjacent encoded words is not part of the text.
        var joined = AdjacentWords().Replace(value, "?==?");
        return EncodedWord().Replace(joined, m =>
        {
            var bytes = m.Groups[2].Value.Equals("b", StringComparison.OrdinalIgnoreCase)
                ? Base64(m.Groups[3].Value)
                : QuotedPrintable(m.Groups[3].Value, header: true);
            return TextDecoding.Decode(bytes, m.Groups[1].Value).Text ?? "";
        });
    }

    [GeneratedRegex(@"\?=\s+=\?")]
    private static partial Regex AdjacentWords();

    [GeneratedRegex(@"=\?([^?\s]+)\?([BbQq])\?([^?\s]*)\?=")]
    private static partial Regex EncodedWord();
}
