using System.Security.Cryptography;

namespace SeekSharp.Distributed.Pipeline;

// Every pipeline message (a micro-batch's activations or gradients, a step's inputs, commands, reports, stage state) is a
// payload put into a named box in the driver's process and taken out by its one reader. Box names carry the stage,
// step and micro-batch, so none is ever reused within a run and no ordering is needed between them. Stages reach the
// mailbox through the pipeline grain (PipelineGrain.cs) in 1 MiB chunks, each with its SHA-256 and the whole payload's
// checked once assembled, as DiLoCo's payloads (Chunks.cs); the driver, in the same process, puts and takes directly.
// Stage to stage traffic is relayed by the driver's process: two hops instead of one, but a stage needs to reach one
// address only (as a DiLoCo worker does), which is what lets a stage behind NAT join.

/// <summary>Named single-reader boxes of payloads, with the stages' last-seen times.</summary>
public sealed class Mailbox
{
    readonly object gate = new();
    readonly Dictionary<string, TaskCompletionSource<byte[]>> boxes = [];
    readonly Dictionary<string, (ChunkAssembler Parts, byte[] Sha)> arriving = [];
    readonly Dictionary<string, byte[]> leaving = [];   // taken by a stage, its later chunks still to be read
    readonly Dictionary<int, DateTime> seen = [];

    TaskCompletionSource<byte[]> Box(string name)
    {
        lock (gate)
        {
            if (!boxes.TryGetValue(name, out var b)) boxes[name] = b = new(TaskCreationOptions.RunContinuationsAsynchronously);
            return b;
        }
    }

    /// <summary>Puts a whole payload (the driver's side).</summary>
    public void Put(string box, byte[] payload)
    {
        if (!Box(box).TrySetResult(payload)) throw new InvalidOperationException($"pipeline box '{box}' was filled twice.");
    }

    /// <summary>One chunk of a payload of <paramref name="chunks"/> chunks and <paramref name="length"/> bytes; the payload is put
    /// once all have come and its hash matches. False for a chunk that fails its checksum (the sender sends it again).</summary>
    public bool PutChunk(string box, int chunks, long length, byte[] sha256, Chunk chunk)
    {
        byte[]? whole = null;
        lock (gate)
        {
            if (!arriving.TryGetValue(box, out var a)) arriving[box] = a = (new ChunkAssembler(chunks, length), sha256);
            if (!a.Parts.Add(chunk)) return false;
            if (a.Parts.Received == length)
            {
                var (payload, problem) = a.Parts.Assemble(a.Sha);
                if (payload is null) { arriving.Remove(box); throw new InvalidOperationException($"pipeline box '{box}': {problem}"); }
                arriving.Remove(box);
                whole = payload;
            }
        }
        if (whole is not null) Put(box, whole);
        return true;
    }

    /// <summary>Takes the payload out, waiting up to <paramref name="wait"/>; null when it has not come by then.</summary>
    public async Task<byte[]?> Take(string box, TimeSpan wait)
    {
        var b = Box(box);
        if (await Task.WhenAny(b.Task, Task.Delay(wait)) != b.Task) return null;
        lock (gate) boxes.Remove(box);
        return b.Task.Result;
    }

    /// <summary>A stage's take: the payload's size, hash and first chunk (null when it has not come within
    /// <paramref name="wait"/>); the rest are read with <see cref="TakeChunk"/>.</summary>
    public async Task<Parcel?> TakeFirst(string box, TimeSpan wait, int chunkBytes)
    {
        var payload = await Take(box, wait);
        if (payload is null) return null;
        int chunks = Chunks.Count(payload.Length, chunkBytes);
        if (chunks > 1) lock (gate) leaving[box] = payload;
        return new Parcel { Length = payload.Length, Chunks = chunks, Sha256 = SHA256.HashData(payload), First = Chunks.Slice(payload, 0, chunkBytes) };
    }

    /// <summary>Chunk <paramref name="index"/> of a payload a stage took; the last one releases it.</summary>
    public Chunk TakeChunk(string box, int index, int chunkBytes)
    {
        lock (gate)
        {
            if (!leaving.TryGetValue(box, out var payload)) throw new InvalidOperationException($"pipeline box '{box}' is not being read.");
            var c = Chunks.Slice(payload, index, chunkBytes);
            if (index == Chunks.Count(payload.Length, chunkBytes) - 1) leaving.Remove(box);
            return c;
        }
    }

    /// <summary>True when <paramref name="box"/> holds a payload (the driver checks stages' failure boxes this way).</summary>
    public bool Has(string box)
    {
        lock (gate) return boxes.TryGetValue(box, out var b) && b.Task.IsCompleted;
    }

    public void Seen(int stage) { lock (gate) seen[stage] = DateTime.UtcNow; }

    /// <summary>When stage <paramref name="stage"/> last called, or null if never.</summary>
    public DateTime? LastSeen(int stage) { lock (gate) return seen.TryGetValue(stage, out var t) ? t : null; }
}

/// <summary>Box names: one per message, never reused within a run. A tag is a training step's number or an evaluation's "eN".</summary>
public static class Boxes
{
    public static string Plan(int stage) => $"plan/{stage}";
    public static string Command(int stage, int n) => $"cmd/{stage}/{n}";
    public static string Input(string tag, int micro) => $"in/{tag}/{micro}";
    public static string Target(string tag, int micro) => $"tgt/{tag}/{micro}";
    /// <summary>Activations into <paramref name="stage"/> (from stage - 1).</summary>
    public static string Activation(int stage, string tag, int micro) => $"act/{stage}/{tag}/{micro}";
    /// <summary>Gradients into <paramref name="stage"/> (from stage + 1).</summary>
    public static string Gradient(int stage, string tag, int micro) => $"grad/{stage}/{tag}/{micro}";
    public static string Tied(int stage, int step) => $"tied/{stage}/{step}";
    public static string Report(int stage, int step) => $"rep/{stage}/{step}";
    public static string Clip(int stage, int step) => $"clip/{stage}/{step}";
    public static string State(int stage, int n) => $"state/{stage}/{n}";
    public static string EvalReport(string tag) => $"eval/{tag}";
    public static string Load(int stage) => $"load/{stage}";
    public static string Failure(int stage) => $"fail/{stage}";
    /// <summary>Call <paramref name="n"/> from <paramref name="stage"/> to the expert process <paramref name="worker"/>.</summary>
    public static string ExpertCall(int worker, int stage, long n) => $"xc/{worker}/{stage}/{n}";
    public static string ExpertReply(int worker, int stage, long n) => $"xr/{worker}/{stage}/{n}";
}
