using System.Runtime.InteropServices;

namespace SeekSharp.IO;

// What a path is, before anything opens it: opening a FIFO blocks until someone writes to it, a link to
// /dev/zero reads forever, and a link loop walks forever; none of these shows in File.Exists. The type and
// the (device, inode) identity come from statx(2), whose struct has one fixed layout on every Linux
// architecture. Where statx is missing (not Linux), regular files and folders come from .NET's own checks
// and links are reported as links, not followed. Used by the data walker and by every model-folder read.

/// <summary>The kind of a file-system entry from statx(2).</summary>
public static partial class FileStatus
{
    public enum Kind { Regular, Directory, Link, Fifo, CharDevice, BlockDevice, Socket, Missing, Loop, Denied, Other }

    public readonly record struct Status(Kind Kind, (ulong Dev, ulong Ino)? Id)
    {
        public string Describe() => Kind switch
        {
            Kind.Fifo => "a FIFO (named pipe)", Kind.CharDevice => "a character device", Kind.BlockDevice => "a block device",
            Kind.Socket => "a socket", _ => "a special file",
        };
    }

    static readonly bool HasStatx = OperatingSystem.IsLinux() && ProbeStatx();

    static bool ProbeStatx()
    {
        try { return StatxCall("/", follow: true, out _) == 0; }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { return false; }
    }

    /// <summary>What <paramref name="path"/> is (the link itself unless <paramref name="follow"/>), with its (device, inode) where known.</summary>
    public static Status Stat(string path, bool follow)
    {
        if (!HasStatx) return FallbackStat(path, follow);
        if (StatxCall(path, follow, out var buf) != 0)
            return new(Marshal.GetLastPInvokeError() switch { 40 => Kind.Loop, 13 => Kind.Denied, 2 or 20 => Kind.Missing, _ => Kind.Denied }, null);
        var kind = (buf.Mode & 0xF000) switch
        {
            0x8000 => Kind.Regular, 0x4000 => Kind.Directory, 0xA000 => Kind.Link, 0x1000 => Kind.Fifo,
            0x2000 => Kind.CharDevice, 0x6000 => Kind.BlockDevice, 0xC000 => Kind.Socket, _ => Kind.Other,
        };
        return new(kind, (((ulong)buf.DevMajor << 32) | buf.DevMinor, buf.Ino));
    }

    // Without statx: regular files and folders by .NET's own checks; links are reported as links (not followed).
    static Status FallbackStat(string path, bool follow)
    {
        FileSystemInfo info = Directory.Exists(path) ? new DirectoryInfo(path) : new FileInfo(path);
        if (!follow && info.LinkTarget is not null) return new(Kind.Link, null);
        if (info is DirectoryInfo) return new(Kind.Directory, null);
        return new(info.Exists ? Kind.Regular : Kind.Missing, null);
    }

    static int StatxCall(string path, bool follow, out StatxBuffer buf)
    {
        const int AtFdCwd = -100, AtSymlinkNoFollow = 0x100;
        const uint StatxType = 0x1, StatxIno = 0x100;
        return statx(AtFdCwd, path, follow ? 0 : AtSymlinkNoFollow, StatxType | StatxIno, out buf);
    }

    // struct statx (linux/stat.h): 256 bytes, the same on every architecture; only the fields we read are named.
    [StructLayout(LayoutKind.Explicit, Size = 256)]
    struct StatxBuffer
    {
        [FieldOffset(28)] public ushort Mode;
        [FieldOffset(32)] public ulong Ino;
        [FieldOffset(136)] public uint DevMajor;
        [FieldOffset(140)] public uint DevMinor;
    }

    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int statx(int dirfd, string path, int flags, uint mask, out StatxBuffer buf);
}
