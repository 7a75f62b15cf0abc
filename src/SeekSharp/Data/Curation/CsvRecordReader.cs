using System.Text;

namespace SeekSharp.Data.Curation;

// Design: an RFC 4180 state machine over a TextReader, one record at a time, so a CSV of any size
// streams. Quoted fields may hold commas, CRLF/LF and doubled quotes; a quote inside an unquoted
// field is kept literally (lenient, as most writers that produce it mean it literally). A record's
// origin is the physical line it starts on. A missing text column is one error for the whole file
// (every row would fail the same way); a short row or an unterminated quote is an error record.
internal static class CsvRecordReader
{
    public static IEnumerable<RawRecord> Read(SourceSpec spec, string file)
    {
        using var reader = new StreamReader(file, Encoding.UTF8, detectEncodingFromByteOrderMarks: true, bufferSize: 1 << 16);
        var csv = new CsvParser(reader);
        if (!csv.TryReadRecord(out var header, out _, out var headerError))
        {
            yield return new RawRecord(spec.Name, file, "csv", null, null, $"{file}: {headerError ?? "empty file, expected a header row"}");
            yield break;
        }
        var col = header.IndexOf(spec.Column);
        if (col < 0) col = header.FindIndex(h => h.Trim().Equals(spec.Column, StringComparison.OrdinalIgnoreCase));
        if (col < 0)
        {
            yield return new RawRecord(spec.Name, file, "csv", null, null,
                $"{file}: no column \"{spec.Column}\"; columns found: {string.Join(", ", header.Select(h => $"\"{h}\""))}.");
            yield break;
        }
        while (csv.TryReadRecord(out var fields, out var line, out var error))
        {
            var origin = $"{file}:{line}";
            if (error is not null)
                yield return new RawRecord(spec.Name, origin, "csv", null, null, $"{origin}: {error}");
            else if (fields.Count == 1 && fields[0].Length == 0)
                continue;   // blank line
            else if (col >= fields.Count)
                yield return new RawRecord(spec.Name, origin, "csv", null, null, $"{origin}: row has {fields.Count} fields, column \"{spec.Column}\" is field {col + 1}.");
            else
                yield return new RawRecord(spec.Name, origin, "csv", null, fields[col]);
        }
    }
}

internal sealed class CsvParser(TextReader reader)
{
    private long line = 1;
    private readonly StringBuilder field = new();

    /// <summary>Reads one record; false at end of input. <paramref name="startLine"/> is where it began.</summary>
    public bool TryReadRecord(out List<string> fields, out long startLine, out string? error)
    {
        fields = [];
        startLine = line;
        error = null;
        var c = reader.Read();
        if (c < 0) return false;
        field.Clear();
        var inQuotes = false;
        var atFieldStart = true;
        while (true)
        {
            if (c < 0)
            {
                if (inQuotes) error = $"unterminated quoted field (opened in the record starting at line {startLine})";
                fields.Add(field.ToString());
                return true;
            }
            var ch = (char)c;
            if (inQuotes)
            {
                if (ch == '"')
                {
                    if (reader.Peek() == '"') { reader.Read(); field.Append('"'); }
                    else inQuotes = false;
                }
                else
                {
                    if (ch == '\n') line++;
                    field.Append(ch);
                }
            }
            else if (ch == '"' && atFieldStart) { inQuotes = true; atFieldStart = false; }
            else if (ch == ',')
            {
                fields.Add(field.ToString());
                field.Clear();
                atFieldStart = true;
            }
            else if (ch is '\r' or '\n')
            {
                if (ch == '\r' && reader.Peek() == '\n') reader.Read();
                line++;
                fields.Add(field.ToString());
                return true;
            }
            else
            {
                // Text after a closing quote ("a"b) is kept: lenient rather than losing the row.
                field.Append(ch);
                atFieldStart = false;
            }
            c = reader.Read();
        }
    }
}
