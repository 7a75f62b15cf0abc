using System.Text;
using SeekSharp.IO;
using static SeekSharp.IO.FileStatus;

namespace SeekSharp.Data;

/// <summary>One thing a walk found: a regular file to read (<see cref="Skip"/> null), or an entry it will not
/// read, with a reason code and a printable detail.</summary>
/// <param name="Path">The full path (through any linked folder); for <c>bad_name</c> the name as .NET decoded it.</param>
/// <param name="Skip">null, or hidden, not_regular, broken_link, link_loop, bad_name or unreadable.</param>
public readonly record struct WalkedFile(string Path, string? Skip = null, string? Detail = null);

// The one file walker of `seek data prepare`, `seek data tokenize` and `seek tok train`. Why each rule:
// - Every entry comes back, read or not, so a caller can account for all of them (quarantine, counts).
// - Linked folders are followed, but each real folder (device, inode) is walked once: a link to an
//   ancestor (a loop) or a second link to the same folder is a `link_loop` entry, not a walk that runs
//   until the disk or memory is gone.
// - Only regular files are read: a FIFO blocks the reader forever and a link to /dev/zero never ends,
//   so FIFOs, sockets and devices are `not_regular`; a link to nothing is `broken_link`.
// - Hidden entries (a name starting with '.': .git, .DS_Store) are not read, and a hidden folder is one
//   `hidden` entry, not its thousands of files.
// - Linux file names are bytes; .NET decodes them as UTF-8 with U+FFFD for bad bytes, so such a name cannot
//   be opened again: `bad_name`, shown with the U+FFFD (printable).
// - A folder that cannot be listed is `unreadable`, instead of an exception that ends the run.
// The type and identity come from FileStatus (statx(2)); where it is unavailable linked folders are not
// followed at all, which needs no identity to rule out loops.
// Output is in ordinal path order, so the same inputs give the same order, whatever the file system.
public static class FileWalker
{
    /// <summary>A single document (a whole text file) larger than this is not read: larger than any real document, small enough for memory.</summary>
    public const long MaxDocumentBytes = 256L << 20;

    /// <summary>Walks <paramref name="path"/> (a file or a folder, which the caller has checked exists).</summary>
    public static List<WalkedFile> Walk(string path)
    {
        var found = new List<WalkedFile>();
        var full = System.IO.Path.GetFullPath(path);
        var visited = new HashSet<(ulong, ulong)>();
        var st = Stat(full, follow: true);
        if (st.Kind == Kind.Directory) Visit(full, st, visited, found);
        else found.Add(Classify(full, st));
        found.Sort((a, b) => string.CompareOrdinal(a.Path, b.Path));
        return found;
    }

    static void Visit(string dir, Status st, HashSet<(ulong, ulong)> visited, List<WalkedFile> found)
    {
        if (st.Id is { } id && !visited.Add(id))
        {
            found.Add(new(dir, "link_loop", $"{Printable(dir)}: a folder already walked (a link loop or a second link to it); not walked again."));
            return;
        }
        List<string> entries;
        try { entries = [.. Directory.EnumerateFileSystemEntries(dir, "*", new EnumerationOptions { AttributesToSkip = 0, IgnoreInaccessible = false })]; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            found.Add(new(dir, "unreadable", $"{Printable(dir)}: cannot list the folder ({e.Message})."));
            return;
        }
        entries.Sort(StringComparer.Ordinal);   // which of two links to one folder is walked must not depend on the file system's order
        foreach (var entry in entries)
        {
            var name = System.IO.Path.GetFileName(entry);
            if (name.StartsWith('.'))
            {
                found.Add(new(entry, "hidden", $"{Printable(entry)}: hidden (the name starts with '.'); not read."));
                continue;
            }
            var own = Stat(entry, follow: false);
            if (own.Kind == Kind.Missing && name.Contains('\uFFFD'))
            {
                found.Add(new(entry, "bad_name", $"{Printable(entry)}: the file name is not valid UTF-8 (shown with U+FFFD); rename it to read it."));
                continue;
            }
            var target = own.Kind == Kind.Link ? Stat(entry, follow: true) : own;
            if (target.Kind == Kind.Directory)
            {
                if (own.Kind == Kind.Link && target.Id is null)
                    found.Add(new(entry, "link_loop", $"{Printable(entry)}: a linked folder; not followed on this system."));
                else Visit(entry, target, visited, found);
            }
            else found.Add(Classify(entry, target));
        }
    }

    static WalkedFile Classify(string path, Status st) => st.Kind switch
    {
        Kind.Regular => new(path),
        Kind.Missing => new(path, "broken_link", $"{Printable(path)}: a link to nothing (or the file is gone)."),
        Kind.Loop => new(path, "link_loop", $"{Printable(path)}: a link loop."),
        Kind.Denied => new(path, "unreadable", $"{Printable(path)}: cannot be read (permission denied or an I/O error)."),
        _ => new(path, "not_regular", $"{Printable(path)}: {st.Describe()}, not a regular file; not read."),
    };

    /// <summary>The path with control characters shown as \xNN, so an error or log line stays one printable line.</summary>
    public static string Printable(string path)
    {
        if (!path.Any(char.IsControl)) return path;
        var sb = new StringBuilder(path.Length + 8);
        foreach (var c in path)
            if (char.IsControl(c)) sb.Append($"\\x{(int)c:X2}");
            else sb.Append(c);
        return sb.ToString();
    }

    /// <summary>Reads a whole file, or returns null when it is larger than <paramref name="cap"/> bytes (checked
    /// while reading too: the file may grow, and a device has no length).</summary>
    public static byte[]? ReadCapped(string path, long cap = MaxDocumentBytes)
    {
        using var handle = File.OpenHandle(path);
        var length = RandomAccess.GetLength(handle);
        if (length > cap) return null;
        var bytes = new byte[length];
        int got = 0, n;
        while (got < bytes.Length && (n = RandomAccess.Read(handle, bytes.AsSpan(got), got)) > 0) got += n;
        if (got < bytes.Length) Array.Resize(ref bytes, got);   // the file shrank while we read it
        else if (RandomAccess.Read(handle, stackalloc byte[1], got) > 0) return null;   // it grew past its length
        return bytes;
    }
}
