namespace SeekSharp.IO;

// Design: a model folder may come from anywhere, so each file it names is checked before it is opened.
// Opening a FIFO blocks until someone writes to it, and a link to /dev/zero reads forever; neither shows
// in File.Exists. The file type comes from FileStatus (statx(2)). A symlink to a regular file is fine; a
// dangling or looping one is named as such. Sizes are capped, because every reader here holds the whole file (a
// config) or sizes allocations from it (a header).

/// <summary>Checks that a path is a readable regular file of bounded size before anything opens it.</summary>
internal static class CheckedFile
{
    /// <summary>Largest config.json (and other small JSON settings files) we read: real ones are a few KB.</summary>
    public const long MaxConfigBytes = 1 << 20;

    /// <summary>Largest tokenizer.json we read: large public ones (262k tokens) are about 35 MB.</summary>
    public const long MaxTokenizerBytes = 64L << 20;

    /// <summary>Throws a <see cref="SeekSharpException"/> unless <paramref name="path"/> is a regular file (links followed)
    /// of at most <paramref name="maxBytes"/>; <paramref name="missing"/> is the message's tail when nothing is there.
    /// Returns the file's length.</summary>
    public static long Check(string path, string missing, long maxBytes = long.MaxValue)
    {
        // FileInfo describes a link itself (a dangling link "exists", its length is the target's name); stat follows it.
        var info = new FileInfo(path);
        var st = FileStatus.Stat(path, follow: true);
        switch (st.Kind)
        {
            case FileStatus.Kind.Regular:
                break;
            case FileStatus.Kind.Loop:
                throw new SeekSharpException($"{path}: is a symbolic link that loops (too many levels of links); expected a regular file.");
            case FileStatus.Kind.Missing when info.LinkTarget is { } target:
                throw new SeekSharpException(IsLoop(info)
                    ? $"{path}: is a symbolic link that loops (too many levels of links); expected a regular file."
                    : $"{path}: is a symbolic link to '{target}', which does not exist; expected a regular file.");
            case FileStatus.Kind.Missing:
                throw new SeekSharpException($"{path}: {missing}");
            case FileStatus.Kind.Denied:
                throw new SeekSharpException($"{path}: cannot be read (permission denied or an I/O error).");
            case FileStatus.Kind.Directory:
                throw new SeekSharpException($"{path}: is a directory; expected a regular file.");
            default:
                throw new SeekSharpException($"{path}: is {st.Describe()}, not a regular file; refusing to read it.");
        }
        if (!info.Exists) throw new SeekSharpException($"{path}: {missing}");
        long length;
        using (var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1)) length = fs.Length; // a regular file: opening cannot block
        if (length > maxBytes)
            throw new SeekSharpException($"{path}: is {length:N0} bytes, more than the {maxBytes:N0} such a file may have.");
        return length;
    }

    /// <summary><see cref="Check"/>, then the whole file; a file that grows while read is refused, not followed.</summary>
    public static byte[] ReadAllBytes(string path, string missing, long maxBytes)
    {
        var length = Check(path, missing, maxBytes);
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.None);
        var buffer = new byte[length];
        try { fs.ReadExactly(buffer); }
        catch (EndOfStreamException e) { throw new SeekSharpException($"{path}: changed size while being read; expected a file that stays put.", e); }
        if (fs.ReadByte() != -1)
            throw new SeekSharpException($"{path}: changed size while being read; expected a file that stays put.");
        return buffer;
    }

    static bool IsLoop(FileInfo info)
    {
        try { info.ResolveLinkTarget(returnFinalTarget: true); return false; }
        catch (IOException) { return true; }
    }
}
