using System.Text;
using System.Text.RegularExpressions;

namespace SeekSharp.Data.Curation;

// Design: quoted text is someone else's words, repeated (dedup would see it N times) and signatures
// and list footers are boilerplate, so all are removed, line by line:
// - lines starting with '>' (after optional spaces) are quotes;
// - an attribution line ("On <date>, X wrote:", or any line ending in "wrote:"/"writes:" that is
//   followed by a quote) goes with its quote;
// - "-----Original Message-----" (Outlook) and "----- Original Message -----" start a quoted original
//   that runs to the end of the text;
// - a line exactly "-- " starts the signature (RFC 3676), which runs to the end;
// - a separator line of underscores/dashes/equals followed within a few lines by list information
//   (listinfo URL, "mailing list", "unsubscribe", "sponsored by") starts a list footer, to the end;
//   a short last paragraph with such information is a footer too (many lists use no separator).
// Precision trade-off: a '>' line in prose (rare) is lost; a signature that uses "--" without the
// space is kept, since "--" alone is also a common prose/section separator.
internal static partial class MailCleanup
{
    public static string Strip(string text)
    {
        // Lines as (start, length) in text, split at '\n' with the '\r' of a "\r\n" dropped (as splitting
        // text.Replace("\r\n", "\n") would), so no string is made per line.
        var lines = new List<(int Start, int Length)>();
        for (int pos = 0; ;)
        {
            int nl = text.IndexOf('\n', pos);
            int end = nl < 0 ? text.Length : nl;
            lines.Add((pos, nl >= 0 && end > pos && text[end - 1] == '\r' ? end - 1 - pos : end - pos));
            if (nl < 0) break;
            pos = nl + 1;
        }
        ReadOnlySpan<char> Line(int i) => text.AsSpan(lines[i].Start, lines[i].Length);

        var stop = lines.Count;
        for (var i = 0; i < lines.Count; i++)
        {
            var l = Line(i);
            if (l.SequenceEqual("-- ") || OriginalMessage().IsMatch(l) || (Separator().IsMatch(l) && FooterFollows(i)))
            {
                stop = i;
                break;
            }
        }
        var sb = new StringBuilder(text.Length);
        for (var i = 0; i < stop; i++)
        {
            var l = Line(i);
            if (IsQuote(l)) continue;
            if (OnWrote().IsMatch(l)) continue;
            if (WroteEnd().IsMatch(l) && NextNonBlankIsQuote(i + 1)) continue;
            // Removed quotes leave gaps: a run of blank lines is kept as one.
            if (l.IsWhiteSpace() && (sb.Length == 0 || (sb.Length >= 2 && sb[^1] == '\n' && sb[^2] == '\n'))) continue;
            sb.Append(l).Append('\n');
        }
        int from = 0, to = sb.Length;   // what Trim('\n') would keep, without making the untrimmed string
        while (from < to && sb[from] == '\n') from++;
        while (to > from && sb[to - 1] == '\n') to--;
        return DropTrailingFooter(sb.ToString(from, to - from));

        bool NextNonBlankIsQuote(int from)
        {
            for (var j = from; j < stop; j++)
                if (!Line(j).IsWhiteSpace()) return IsQuote(Line(j));
            return false;
        }

        bool FooterFollows(int sep)
        {
            for (var j = sep + 1; j < lines.Count && j <= sep + 4; j++)
                if (ListInfo().IsMatch(Line(j))) return true;
            return false;
        }
    }

    // Many lists append a bare footer paragraph with no separator line (fork: just the listinfo URL;
    // ilug: "...listinfo/ilug for (un)subscription information. / List maintainer: ..."). A short
    // final paragraph (at most 6 lines) that mentions list information is dropped.
    private static string DropTrailingFooter(string text)
    {
        var cut = text.LastIndexOf("\n\n", StringComparison.Ordinal);
        var last = cut < 0 ? text : text[(cut + 2)..];
        if (cut < 0 || last.Count(c => c == '\n') >= 6 || !ListInfo().IsMatch(last)) return text;
        return text[..cut].TrimEnd('\n');
    }

    private static bool IsQuote(ReadOnlySpan<char> l) => l.TrimStart(' ').StartsWith(">");

    [GeneratedRegex(@"^\s*-{3,}\s*Original Message\s*-{3,}\s*$", RegexOptions.IgnoreCase)]
    private static partial Regex OriginalMessage();

    [GeneratedRegex(@"^\s*On\s.{0,300}\b(wrote|writes):\s*$")]
    private static partial Regex OnWrote();

    [GeneratedRegex(@"\b(wrote|writes|said):\s*$")]
    private static partial Regex WroteEnd();

    [GeneratedRegex(@"^\s*([_=-])\1{9,}\s*$")]
    private static partial Regex Separator();

    [GeneratedRegex(@"listinfo|mailing list|unsubscri|sponsored by|list-info|list maintainer|yahoo! groups|users' group|@lists?\.", RegexOptions.IgnoreCase)]
    private static partial Regex ListInfo();
}
