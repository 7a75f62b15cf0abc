using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text.Json;
using SeekSharp.Checkpoints;
using static TorchSharp.torch;

namespace SeekSharp.Distributed.Pipeline;

// The two ends of the mailbox: the driver (and stages run inside the driver's process, as in the tests) use it directly;
// stage processes go through the grain. Both count payload bytes; Orleans' own framing is not counted (as in DiLoCo).

/// <summary>Sends payloads into named boxes and takes them out, blocking.</summary>
public interface IStageLink
{
    void Send(string box, byte[] payload);
    byte[] Receive(string box);
    long BytesSent { get; }
    long BytesReceived { get; }
}

/// <summary>The mailbox in this process. <paramref name="check"/> runs between waits and throws when the run must stop (a
/// stage died).</summary>
public sealed class MailboxLink(Mailbox mailbox, Action? check = null) : IStageLink
{
    long sent, received;   // an expert process sends and receives from several threads
    public long BytesSent => Interlocked.Read(ref sent);
    public long BytesReceived => Interlocked.Read(ref received);

    public void Send(string box, byte[] payload)
    {
        mailbox.Put(box, payload);
        Interlocked.Add(ref sent, payload.Length);
    }

    public byte[] Receive(string box)
    {
        while (true)
        {
            var p = mailbox.Take(box, TimeSpan.FromMilliseconds(500)).GetAwaiter().GetResult();
            if (p is not null) { Interlocked.Add(ref received, p.Length); return p; }
            check?.Invoke();
        }
    }
}

/// <summary>A stage process's end: chunked puts and long-polled takes through the pipeline grain.</summary>
public sealed class GrainLink(IPipelineGrain grain, int stage) : IStageLink
{
    long sent, received;   // an expert process sends and receives from several threads
    public long BytesSent => Interlocked.Read(ref sent);
    public long BytesReceived => Interlocked.Read(ref received);

    public void Send(string box, byte[] payload)
    {
        var sha = SHA256.HashData(payload);
        int n = Chunks.Count(payload.Length, Chunks.DefaultBytes);
        for (int i = 0; i < n; i++)
        {
            var c = Chunks.Slice(payload, i, Chunks.DefaultBytes);
            if (!grain.Put(stage, box, n, payload.Length, sha, c).GetAwaiter().GetResult()) { i--; continue; }
        }
        Interlocked.Add(ref sent, payload.Length);
    }

    public byte[] Receive(string box)
    {
        Parcel? p;
        while ((p = grain.TakeFirst(stage, box, 5000).GetAwaiter().GetResult()) is null) { }
        var asm = new ChunkAssembler(p.Chunks, p.Length);
        if (!asm.Add(p.First)) throw new SeekSharpException($"pipeline box '{box}': chunk 0 failed its checksum.");
        for (int i = 1; i < p.Chunks; i++)
            if (!asm.Add(grain.TakeChunk(stage, box, i).GetAwaiter().GetResult()))
                throw new SeekSharpException($"pipeline box '{box}': chunk {i} failed its checksum.");
        var (payload, problem) = asm.Assemble(p.Sha256);
        if (payload is null) throw new SeekSharpException($"pipeline box '{box}': {problem}");
        Interlocked.Add(ref received, payload.Length);
        return payload;
    }
}

/// <summary>Payload encodings: raw little-endian tensors of a shape both ends know, JSON messages, and named tensor sets as
/// safetensors bytes (stage state).</summary>
public static class Wire
{
    public static byte[] Floats(Tensor t)
    {
        using var d = t.detach();
        return MemoryMarshal.AsBytes(Kernels.TensorPointer.Floats(d).AsSpan()).ToArray();   // one memcpy, not TorchSharp's element-wise copy
    }

    public static Tensor Floats(byte[] b, long[] shape) => tensor(MemoryMarshal.Cast<byte, float>(b).ToArray(), shape);

    public static byte[] Longs(ReadOnlySpan<long> v) => MemoryMarshal.AsBytes(v).ToArray();

    public static long[] Longs(byte[] b) => MemoryMarshal.Cast<byte, long>(b).ToArray();

    public static byte[] Json<T>(T value) => JsonSerializer.SerializeToUtf8Bytes(value);

    public static T Json<T>(byte[] b) => JsonSerializer.Deserialize<T>(b) ?? throw new SeekSharpException($"pipeline: empty {typeof(T).Name} message.");

    /// <summary>Tensors by name (and metadata) as the bytes of a safetensors file.</summary>
    public static byte[] Pack(IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string> metadata)
    {
        var path = Path.Combine(Path.GetTempPath(), $"seek-stage-{Guid.NewGuid():N}.safetensors");
        try
        {
            Safetensors.Save(path, tensors, metadata);
            return File.ReadAllBytes(path);
        }
        finally { File.Delete(path); }
    }

    public static (Dictionary<string, Tensor> Tensors, Dictionary<string, string> Metadata) Unpack(byte[] bytes)
    {
        var path = Path.Combine(Path.GetTempPath(), $"seek-stage-{Guid.NewGuid():N}.safetensors");
        try
        {
            File.WriteAllBytes(path, bytes);
            return Safetensors.LoadWithMetadata(path);
        }
        finally { File.Delete(path); }
    }
}
