using System.Net;
using System.Text;

namespace SeekSharp.Data.Curation;

// Design: a hand-written tokenizer, not AngleSharp (which the feed does serve). We only need the text
// in reading order with block boundaries, not a DOM; building one per mail costs an allocation-heavy
// tree for thousands of spam messages, and AngleSharp's tree repair buys little for text extraction.
// What the tokenizer is careful about: quoted attribute values containing '>', comments, raw-text
// elements (script/style) whose bodies contain '<', a <head> that is never closed (spam often omits
// </head>: it ends at <body> too), and a stray '<' that starts no tag (kept as text). Entities are
// decoded per text run with WebUtility.HtmlDecode; whitespace collapses as a browser would.
public static class HtmlText
{
    private static readonly HashSet<string> Block = new(StringComparer.OrdinalIgnoreCase)
    {
        "p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "dl", "dt", "dd",
        "blockquote", "pre", "hr", "section", "article", "header", "footer", "nav", "aside", "form", "title",
        "address", "center", "body", "html", "main", "figure", "figcaption", "caption", "tbody", "thead",
    };

    private static readonly HashSet<string> Cell = new(StringComparer.OrdinalIgnoreCase) { "td", "th" };

    public static string ToText(string html)
    {
        var sb = new StringBuilder(html.Length / 2);
        var text = new StringBuilder();
        var i = 0;
        while (i < html.Length)
        {
            var lt = html.IndexOf('<', i);
            if (lt < 0) { text.Append(html, i, html.Length - i); break; }
            text.Append(html, i, lt - i);
            i = lt;
            if (html.AsSpan(i).StartsWith("<!--"))
            {
                var end = html.IndexOf("-->", i + 4, StringComparison.Ordinal);
                i = end < 0 ? html.Length : end + 3;
                continue;
            }
            if (!TryReadTag(html, i, out var name, out var closing, out var after))
            {
                text.Append('<');      // not a tag: a literal less-than sign
                i++;
                continue;
            }
            i = after;
            if (name.Length == 0) continue;   // <!DOCTYPE>, <?xml?>, </ >
            if (!closing && (Eq(name, "script") || Eq(name, "style") || Eq(name, "head") || Eq(name, "noscript")))
            {
                i = SkipRawText(html, i, name);
                continue;
            }
            if (Block.Contains(name)) { Flush(sb, text); sb.Append('\n'); }
            else if (Cell.Contains(name)) text.Append(' ');
        }
        Flush(sb, text);
        return Tidy(sb);
    }

    private static bool Eq(string a, string b) => a.Equals(b, StringComparison.OrdinalIgnoreCase);

    // Skips the body of a raw-text element up to its end tag. <head> also ends where <body> starts.
    private static int SkipRawText(string html, int from, string name)
    {
        var end = html.IndexOf("</" + name, from, StringComparison.OrdinalIgnoreCase);
        if (Eq(name, "head"))
        {
            var body = html.IndexOf("<body", from, StringComparison.OrdinalIgnoreCase);
            if (body >= 0 && (end < 0 || body < end)) return body;
        }
        if (end < 0) return Eq(name, "head") ? from : html.Length;   // unclosed head without body: keep going
        var gt = html.IndexOf('>', end);
        return gt < 0 ? html.Length : gt + 1;
    }

    /// <summary>Reads "&lt;name attr='..'&gt;" at <paramref name="at"/>; false when the '&lt;' starts no tag.</summary>
    private static bool TryReadTag(string html, int at, out string name, out bool closing, out int after)
    {
        name = ""; closing = false; after = at + 1;
        var i = at + 1;
        if (i >= html.Length) return false;
        var c = html[i];
        if (c is '!' or '?')
        {
            var gt = html.IndexOf('>', i);
            after = gt < 0 ? html.Length : gt + 1;
            return true;
        }
        if (c == '/') { closing = true; i++; }
        var start = i;
        while (i < html.Length && (char.IsAsciiLetterOrDigit(html[i]) || html[i] is '-' or ':' or '_')) i++;
        if (i == start || !char.IsAsciiLetter(html[start])) { if (!closing) return false; }
        name = html[start..i];
        // Attributes: a '>' inside a quoted value does not end the tag.
        char quote = '\0';
        for (; i < html.Length; i++)
        {
            var x = html[i];
            if (quote != '\0') { if (x == quote) quote = '\0'; continue; }
            if (x is '"' or '\'' && i > 0 && html[i - 1] == '=') { quote = x; continue; }
            if (x == '>') { after = i + 1; return true; }
        }
        after = html.Length;
        return true;
    }

    private static void Flush(StringBuilder sb, StringBuilder text)
    {
        if (text.Length == 0) return;
        var decoded = WebUtility.HtmlDecode(text.ToString());
        text.Clear();
        var space = sb.Length > 0 && sb[^1] != '\n' && sb[^1] != ' ';
        foreach (var ch in decoded)
        {
            if (char.IsWhiteSpace(ch)) { space = true; continue; }
            if (space && sb.Length > 0 && sb[^1] != '\n' && sb[^1] != ' ') sb.Append(' ');
            space = false;
            sb.Append(ch);
        }
        if (space && sb.Length > 0 && sb[^1] != '\n') sb.Append(' ');
    }

    // Trims each line and drops empty ones: block tags nest arbitrarily deep, so the number of
    // blank lines they would leave says nothing about the text; one line per block is the layout.
    private static string Tidy(StringBuilder sb)
    {
        var outp = new StringBuilder(sb.Length);
        foreach (var raw in sb.ToString().Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0) continue;
            if (outp.Length > 0) outp.Append('\n');
            outp.Append(line);
        }
        return outp.ToString();
    }
}
