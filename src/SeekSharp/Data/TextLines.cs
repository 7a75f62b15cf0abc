using System.Text;

namespace SeekSharp.Data;

/// <summary>One line of a text file: its text, or null when it was longer than the cap (then only its length is known).</summary>
public readonly record struct TextLine(string? Text, long Chars);

// StreamReader.ReadLine builds a line of any length: one 3 GB line without a newline (a dump, a file
// that is not JSONL) ends the process out of memory. These are the same lines (split at \n, \r or
// \r\n, no empty line after a final newline), but a line past the cap is counted and skipped, not
// built, so the caller can set it aside like any other document that is too large.
public static class TextLines
{
    /// <summary>The longest line kept, in characters: the same bound as a whole-file document.</summary>
    public const int MaxLineChars = (int)(FileWalker.MaxDocumentBytes / 2);

    public static IEnumerable<TextLine> Read(TextReader reader, int maxChars = MaxLineChars)
    {
        var buf = new char[1 << 16];
        var sb = new StringBuilder();
        long over = -1;          // chars of a line past the cap, or -1
        var skipLf = false;      // the last line ended in \r: a \n right after it is part of that end
        var open = false;        // a line has started (some chars seen since the last end)
        int len = 0, pos = 0;
        while (true)
        {
            if (pos == len)
            {
                (len, pos) = (reader.Read(buf, 0, buf.Length), 0);
                if (len == 0)
                {
                    if (open) yield return Line();
                    yield break;
                }
            }
            if (skipLf) { skipLf = false; if (buf[pos] == '\n' && ++pos == len) continue; }
            var span = buf.AsSpan(pos, len - pos);
            var end = span.IndexOfAny('\r', '\n');
            var take = end < 0 ? span.Length : end;
            if (take > 0) open = true;
            if (over >= 0) over += take;
            else if (sb.Length + (long)take > maxChars) { over = sb.Length + (long)take; sb.Clear(); }
            else if (end >= 0 && sb.Length == 0)   // the common case: the whole line is in the buffer
            {
                pos += end + 1;
                skipLf = span[end] == '\r';
                open = false;
                yield return new TextLine(new string(span[..take]), take);
                continue;
            }
            else sb.Append(span[..take]);
            if (end < 0) { pos = len; continue; }
            pos += end + 1;
            skipLf = span[end] == '\r';
            open = false;
            yield return Line();
        }

        TextLine Line()
        {
            var line = over >= 0 ? new TextLine(null, over) : new TextLine(sb.ToString(), sb.Length);
            over = -1;
            sb.Clear();
            return line;
        }
    }
}
