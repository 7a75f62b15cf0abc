using System.Buffers.Binary;
using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;
using SeekSharp.Checkpoints;
using static TorchSharp.torch;

namespace SeekSharp.Tests.Checkpoints;

/// <summary>What a hostile variant must do: be refused with a message holding the file and every one of
/// <see cref="Expect"/> (or one of <see cref="AnyOf"/>), or load, for variants that are valid after all.</summary>
public sealed record HostileCase(string Name, string File, Action<string> Corrupt, string[] Expect, bool Loads = false)
{
    public string[]? AnyOf { get; init; }
    /// <summary>Another file the message may name instead (a config that describes other weights is reported against them).</summary>
    public string? OrFile { get; init; }
    public override string ToString() => Name;
}

/// <summary>Edits a model folder's files in the ways a hostile or broken folder differs from a good one.</summary>
public static class HostileFolder
{
    public const string Config = "config.json", Weights = "model.safetensors", Tokenizer = "tokenizer.json";

    /// <summary>The header as JSON and the data buffer after it.</summary>
    public static (JsonObject Header, byte[] Data) ReadSafetensors(string path)
    {
        var bytes = File.ReadAllBytes(path);
        var n = (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        return ((JsonObject)JsonNode.Parse(bytes.AsSpan(8, n))!, bytes[(8 + n)..]);
    }

    /// <summary>Writes a header (as given: no checks) and a data buffer; <paramref name="length"/> overrides the stored header length.</summary>
    public static void WriteSafetensors(string path, string header, byte[] data, ulong? length = null)
    {
        var h = Encoding.UTF8.GetBytes(header);
        var bytes = new byte[8 + h.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, length ?? (ulong)h.Length);
        h.CopyTo(bytes, 8);
        data.CopyTo(bytes, 8 + h.Length);
        File.WriteAllBytes(path, bytes);
    }

    /// <summary>Applies <paramref name="edit"/> to the header of <paramref name="dir"/>'s weights, keeping the data.</summary>
    public static Action<string> EditHeader(Action<JsonObject> edit) => dir =>
    {
        var path = Path.Combine(dir, Weights);
        var (header, data) = ReadSafetensors(path);
        edit(header);
        WriteSafetensors(path, header.ToJsonString(), data);
    };

    /// <summary>Rewrites the weights through <see cref="Safetensors"/> after <paramref name="edit"/> changed the tensors.</summary>
    public static Action<string> EditTensors(Action<Dictionary<string, Tensor>> edit) => dir =>
    {
        var path = Path.Combine(dir, Weights);
        var tensors = Safetensors.Load(path);
        try
        {
            edit(tensors);
            Safetensors.Save(path, tensors);
        }
        finally { foreach (var t in tensors.Values) t.Dispose(); }
    };

    /// <summary>Overwrites float <paramref name="index"/> of tensor <paramref name="name"/> (an F32 tensor) in place.</summary>
    public static Action<string> PokeFloat(string name, int index, float value, string file = Weights) => dir =>
    {
        var path = Path.Combine(dir, file);
        var (header, _) = ReadSafetensors(path);
        var begin = header[name]!["data_offsets"]![0]!.GetValue<long>();
        var headerLength = (long)BinaryPrimitives.ReadUInt64LittleEndian(File.ReadAllBytes(path).AsSpan(0, 8));
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Write);
        fs.Position = 8 + headerLength + begin + 4L * index;
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteSingleLittleEndian(b, value);
        fs.Write(b);
    };

    /// <summary>Sets (or, with null, removes) a top-level key of a JSON file.</summary>
    public static Action<string> SetJson(string file, string key, string? rawValue) => EditJson(file, o =>
    {
        if (rawValue is null) o.Remove(key); else o[key] = JsonNode.Parse(rawValue);
    });

    public static Action<string> EditJson(string file, Action<JsonObject> edit) => dir =>
    {
        var path = Path.Combine(dir, file);
        var o = (JsonObject)JsonNode.Parse(File.ReadAllText(path))!;
        edit(o);
        File.WriteAllText(path, o.ToJsonString());
    };

    public static Action<string> WriteText(string file, string text) => dir => File.WriteAllText(Path.Combine(dir, file), text);

    public static Action<string> WriteBytes(string file, byte[] bytes) => dir => File.WriteAllBytes(Path.Combine(dir, file), bytes);

    /// <summary>Keeps the first <paramref name="keep"/>(length) bytes of a file.</summary>
    public static Action<string> Truncate(string file, Func<long, long> keep) => dir =>
    {
        using var fs = new FileStream(Path.Combine(dir, file), FileMode.Open, FileAccess.ReadWrite);
        fs.SetLength(keep(fs.Length));
    };

    /// <summary>Replaces a file with something that is not one: a FIFO, a link that leads nowhere, a device, a folder.</summary>
    public static Action<string> Replace(string file, string kind) => dir =>
    {
        var path = Path.Combine(dir, file);
        File.Delete(path);
        switch (kind)
        {
            case "fifo": MkFifo(path); break;
            case "dangling symlink": File.CreateSymbolicLink(path, Path.Combine(dir, "no-such-file")); break;
            case "looping symlink":
                File.CreateSymbolicLink(path, Path.Combine(dir, file + ".other"));
                File.CreateSymbolicLink(Path.Combine(dir, file + ".other"), path);
                break;
            case "self symlink": File.CreateSymbolicLink(path, path); break;
            case "symlink to /dev/zero": File.CreateSymbolicLink(path, "/dev/zero"); break;
            case "symlink to /dev/null": File.CreateSymbolicLink(path, "/dev/null"); break;
            case "symlink to a fifo": MkFifo(path + ".fifo"); File.CreateSymbolicLink(path, path + ".fifo"); break;
            case "directory": Directory.CreateDirectory(path); break;
            case "missing": break;
            default: throw new ArgumentException(kind);
        }
    };

    /// <summary>Moves the file aside and links to it (absolute or relative): a link to a regular file must load.</summary>
    public static Action<string> LinkToCopy(string file, bool relative) => dir =>
    {
        var path = Path.Combine(dir, file);
        var real = Path.Combine(dir, "real-" + file);
        File.Move(path, real);
        File.CreateSymbolicLink(path, relative ? "real-" + file : real);
    };

    /// <summary>A sparse file of <paramref name="bytes"/> bytes: over a size cap without writing the bytes.</summary>
    public static Action<string> Grow(string file, long bytes) => dir =>
    {
        using var fs = new FileStream(Path.Combine(dir, file), FileMode.Open, FileAccess.ReadWrite);
        fs.SetLength(bytes);
    };

    static void MkFifo(string path)
    {
        using var p = Process.Start(new ProcessStartInfo("mkfifo", [path]) { UseShellExecute = false })!;
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"mkfifo {path} failed");
    }

    public static void CopyFolder(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var f in Directory.GetFiles(from)) File.Copy(f, Path.Combine(to, Path.GetFileName(f)));
    }
}
