using System.Buffers;

namespace SeekSharp.Data.Curation;

// Design: one pass over the NFKC'd text into a pooled buffer rather than a chain of regexes, since
// this runs on every document. NFKC folds ligatures, full-width forms and super/subscripts to plain
// characters so that dedup and the tokenizer see one spelling; it is done by our own table
// (UnicodeNfkc) because string.Normalize is a no-op under InvariantGlobalization. Whitespace policy:
// a run of spaces/tabs becomes one space, but a lone tab is kept (TSV-like text stays legible);
// any run of blank lines becomes exactly one blank line, so paragraphs survive but layout padding not.
public static class TextNormalizer
{
    public static string Normalize(string text)
    {
        var s = UnicodeNfkc.Normalize(text);
        // The output is never longer than the input: every run it writes replaces at least as many chars.
        var buf = ArrayPool<char>.Shared.Rent(s.Length);
        try
        {
            var n = 0;
            var pendingBlank = 0;     // newlines seen since the last content on a line
            var pendingSpace = 0;     // spaces/tabs seen since the last content character on this line
            var pendingTab = false;
            for (var i = 0; i < s.Length; i++)
            {
                var c = s[i];
                if (c > ' ' && c < '\x7F' && pendingBlank == 0 && pendingSpace == 0) { buf[n++] = c; continue; }   // the common case
                if (c == '\r')
                {
                    if (i + 1 < s.Length && s[i + 1] == '\n') continue;
                    c = '\n';
                }
                if (c == '\n')
                {
                    pendingSpace = 0; pendingTab = false;   // trailing spaces are dropped
                    pendingBlank++;
                    continue;
                }
                if (c == ' ' || c == '\t')
                {
                    pendingSpace++;
                    pendingTab = c == '\t';
                    continue;
                }
                // Control characters (C0, DEL, C1) carry no text; \u2028/\u2029 are line breaks in disguise.
                if (c == '\u2028' || c == '\u2029') { pendingSpace = 0; pendingBlank++; continue; }
                if (char.IsControl(c)) continue;
                if (pendingBlank > 0)
                {
                    if (n > 0)
                    {
                        buf[n++] = '\n';
                        if (pendingBlank >= 2) buf[n++] = '\n';
                    }
                    pendingBlank = 0;
                }
                if (pendingSpace > 0 && n > 0)
                    buf[n++] = pendingSpace == 1 && pendingTab ? '\t' : ' ';
                pendingSpace = 0; pendingTab = false;
                buf[n++] = c;
            }
            return n == s.Length && buf.AsSpan(0, n).SequenceEqual(s) ? s : new string(buf, 0, n);
        }
        finally { ArrayPool<char>.Shared.Return(buf); }
    }
}
