using System.Runtime.InteropServices;

namespace SeekSharp.IO;

// Design: a model folder may come from anywhere, so each file it names is checked before it is opened.
// Opening a FIFO blocks until someone writes to it, and a link to /dev/zero reads forever; neither shows
// in File.Exists. The file type comes from stat(2) through .NET's own native shim (SystemNative_Stat,
// shipped with every runtime, whose struct is the same on every platform: flags, then mode), so no
// architecture-specific struct layout is hard-coded. A symlink to a regular file is fine; a dangling or
// looping one is named as such. Sizes are capped, because every reader here holds the whole file (a
// config) or sizes allocations from it (a header).

/// <summary>Checks that a path is a readable regular file of bounded size before anything opens it.</summary>
internal static partial class CheckedFile
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
        if (Directory.Exists(path))
            throw new SeekSharpException($"{path}: is a directory; expected a regular file.");
        // FileInfo describes a link itself (a dangling link "exists", its length is the target's name); stat follows it.
        var info = new FileInfo(path);
        switch (Kind(path))
        {
            case FileKind.Missing when info.LinkTarget is { } target:
                throw new SeekSharpException(IsLoop(info)
                    ? $"{path}: is a symbolic link that loops (too many levels of links); expected a regular file."
                    : $"{path}: is a symbolic link to '{target}', which does not exist; expected a regular file.");
            case FileKind.Missing:
                throw new SeekSharpException($"{path}: {missing}");
            case FileKind.Other other:
                throw new SeekSharpException($"{path}: is a {other.Name}, not a regular file; refusing to read it.");
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

    // PAL file types of SystemNative_Stat's mode (src/native/libs/System.Native/pal_io.h).
    const int TypeMask = 0xF000, TypeFifo = 0x1000, TypeCharDevice = 0x2000, TypeDirectory = 0x4000, TypeBlockDevice = 0x6000, TypeRegular = 0x8000, TypeSocket = 0xC000;

    abstract record FileKind
    {
        public sealed record Regular : FileKind;
        public sealed record Missing : FileKind;
        public sealed record Other(string Name) : FileKind;
    }

    /// <summary>What the path is, links followed; Regular where stat is unavailable (Windows), so the managed checks decide.</summary>
    static FileKind Kind(string path)
    {
        if (OperatingSystem.IsWindows()) return new FileKind.Regular();
        var status = new byte[256]; // the shim's FileStatus is about 130 bytes; the mode is the second int
        int rc;
        try { rc = Stat(path, status); }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { return new FileKind.Regular(); }
        if (rc != 0) return new FileKind.Missing();
        return (BitConverter.ToInt32(status, 4) & TypeMask) switch
        {
            TypeRegular => new FileKind.Regular(),
            TypeFifo => new FileKind.Other("FIFO (named pipe)"),
            TypeCharDevice => new FileKind.Other("character device"),
            TypeBlockDevice => new FileKind.Other("block device"),
            TypeDirectory => new FileKind.Other("directory"),
            TypeSocket => new FileKind.Other("socket"),
            _ => new FileKind.Other("special file"),
        };
    }

    [LibraryImport("libSystem.Native", EntryPoint = "SystemNative_Stat", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Stat(string path, [Out] byte[] status);
}
