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
        var info = new FileInfo(path);
        if (info.LinkTarget is { } target && !info.Exists && !Directory.Exists(path))
        {
            var loops = IsLoop(info);
            throw new SeekSharpException(loops
                ? $"{path}: is a symbolic link that loops (too many levels of links); expected a regular file."
                : $"{path}: is a symbolic link to '{target}', which does not exist; expected a regular file.");
        }
        if (Directory.Exists(path))
            throw new SeekSharpException($"{path}: is a directory; expected a regular file.");
        if (!info.Exists)
            throw new SeekSharpException($"{path}: {missing}");
        if (Kind(path) is { } kind)
            throw new SeekSharpException($"{path}: is a {kind}, not a regular file; refusing to read it.");
        var length = info.Length;
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
        fs.ReadExactly(buffer);
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
    const int TypeMask = 0xF000, Fifo = 0x1000, CharDevice = 0x2000, Directory_ = 0x4000, BlockDevice = 0x6000, Regular = 0x8000, Socket = 0xC000;

    /// <summary>What the path (links followed) is when it is not a regular file; null for a regular file or where stat is unavailable.</summary>
    static string? Kind(string path)
    {
        if (OperatingSystem.IsWindows()) return null;
        var status = new byte[256]; // the shim's FileStatus is about 130 bytes; the mode is the second int
        int rc;
        try { rc = Stat(path, status); }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { return null; }
        if (rc != 0) return "file that cannot be inspected (stat failed)";
        return (BitConverter.ToInt32(status, 4) & TypeMask) switch
        {
            Regular => null,
            Fifo => "FIFO (named pipe)",
            CharDevice => "character device",
            BlockDevice => "block device",
            Directory_ => "directory",
            Socket => "socket",
            _ => "special file",
        };
    }

    [LibraryImport("libSystem.Native", EntryPoint = "SystemNative_Stat", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Stat(string path, [Out] byte[] status);
}
