using Parquet;
using Parquet.Schema;

namespace SeekSharp.Data.Curation;

// Design: Parquet.Net reads a whole column chunk at a time, so memory is bounded by one row group's
// text column, not the file. Its API is async; each call is run with Task.Run(...).GetResult() so a
// caller's synchronization context (test runners, UI) can never deadlock this synchronous iterator.
// A truncated or corrupt file, found at open or in any row group, becomes one error record naming the
// file (rows already read stay read); a missing or non-string column is one error naming the columns.
internal static class ParquetRecordReader
{
    public static IEnumerable<RawRecord> Read(SourceSpec spec, string file)
    {
        using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        var (reader, openError) = Open(stream);
        if (reader is null)
        {
            yield return Error(spec, file, $"{file}: not a readable Parquet file ({openError}).");
            yield break;
        }
        try
        {
            var fields = reader.Schema.GetDataFields();
            var field = fields.FirstOrDefault(f => f.Name == spec.Column)
                ?? fields.FirstOrDefault(f => f.Name.Equals(spec.Column, StringComparison.OrdinalIgnoreCase));
            if (field is null || !IsString(field) || field.IsArray)
            {
                var found = string.Join(", ", fields.Select(f => $"\"{f.Name}\" ({(IsString(f) ? "string" : f.ClrType.Name)}{(f.IsArray ? "[]" : "")})"));
                var what = field is null ? $"no column \"{spec.Column}\"" : $"column \"{spec.Column}\" is not a string column";
                yield return Error(spec, file, $"{file}: {what}; columns found: {found}.");
                yield break;
            }
            long row = 0;
            for (var g = 0; g < reader.RowGroupCount; g++)
            {
                var (values, error) = ReadGroup(reader, g, field);
                if (values is null)
                {
                    yield return Error(spec, $"{file}#{row}", $"{file}: corrupt or truncated Parquet data in row group {g} ({error}).");
                    yield break;
                }
                foreach (var v in values)
                {
                    var origin = $"{file}#{row++}";
                    yield return v is null
                        ? Error(spec, origin, $"{origin}: column \"{field.Name}\" is null.")
                        : new RawRecord(spec.Name, origin, "parquet", null, v);
                }
            }
        }
        finally
        {
            // ParquetReader is only IAsyncDisposable; it holds no unmanaged state beyond our stream.
            Task.Run(() => reader.DisposeAsync().AsTask()).GetAwaiter().GetResult();
        }
    }

    // Parquet.Net 6 reports UTF-8 string columns as ReadOnlyMemory<char>; older files/APIs as string.
    private static bool IsString(DataField f) => f.ClrType == typeof(string) || f.ClrType == typeof(ReadOnlyMemory<char>);

    private static RawRecord Error(SourceSpec spec, string origin, string message) =>
        new(spec.Name, origin, "parquet", null, null, message);

    private static (ParquetReader? Reader, string? Error) Open(Stream stream)
    {
        try { return (Task.Run(() => ParquetReader.CreateAsync(stream, leaveStreamOpen: true)).GetAwaiter().GetResult(), null); }
        catch (Exception e) when (e is not OutOfMemoryException) { return (null, e.Message); }
    }

    private static (string?[]? Values, string? Error) ReadGroup(ParquetReader reader, int group, DataField field)
    {
        try
        {
            using var rg = reader.OpenRowGroupReader(group);
            var values = new string?[rg.RowCount];
            Task.Run(async () => await rg.ReadAsync(field, values.AsMemory()!, null, default)).GetAwaiter().GetResult();
            return (values, null);
        }
        catch (Exception e) when (e is not OutOfMemoryException) { return (null, e.Message); }
    }
}
