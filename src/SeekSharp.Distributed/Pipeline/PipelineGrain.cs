using Orleans.Concurrency;

namespace SeekSharp.Distributed.Pipeline;

// The pipeline's one grain, hosted by the driver's silo: stages (Orleans clients) join through it and move every payload
// through it. Reentrant: a take waits (long poll, up to a few seconds) for its box without holding the grain's turn,
// so many stages' takes and puts interleave; the state is the driver's Mailbox and Admission, which lock themselves.

[Alias("SeekSharp.IPipelineGrain")]
public interface IPipelineGrain : IGrainWithStringKey
{
    /// <summary>Admits a stage that has the run's token, this build's protocol version and (if it named one) the run's model.</summary>
    [Alias("Join")] Task<StageJoinReply> Join(StageJoin request);

    [Alias("Put")] Task<bool> Put(int stage, string box, int chunks, long length, byte[] sha256, Chunk chunk);

    /// <summary>The payload's first chunk and size, or null when it has not come within <paramref name="waitMs"/>.</summary>
    [Alias("TakeFirst")] Task<Parcel?> TakeFirst(int stage, string box, int waitMs);

    [Alias("TakeChunk")] Task<Chunk> TakeChunk(int stage, string box, int index);

    /// <summary>Renews the stage's lease while it computes.</summary>
    [Alias("Beat")] Task Beat(int stage);
}

[GenerateSerializer, Alias("SeekSharp.StageJoin")]
public sealed record StageJoin
{
    [Id(0)] public required string Token { get; init; }
    [Id(1)] public required string Name { get; init; }
    /// <summary>The build's pipeline protocol version (<see cref="Admission.CodeVersion"/>).</summary>
    [Id(2)] public required string Version { get; init; }
    /// <summary>The model config (config.json text) the stage was told to expect (`seek stage --preset`), or null.</summary>
    [Id(3)] public string? ModelConfigJson { get; init; }
}

[GenerateSerializer, Alias("SeekSharp.StageJoinReply")]
public sealed record StageJoinReply
{
    [Id(0)] public bool Accepted { get; init; }
    [Id(1)] public string? Reason { get; init; }
    [Id(2)] public int Stage { get; init; }
}

[GenerateSerializer, Alias("SeekSharp.Parcel")]
public sealed record Parcel
{
    [Id(0)] public long Length { get; init; }
    [Id(1)] public int Chunks { get; init; }
    [Id(2)] public byte[] Sha256 { get; init; } = [];
    [Id(3)] public Chunk First { get; init; } = new();
}

[Reentrant]
public sealed class PipelineGrain(Mailbox mailbox, Admission admission) : Grain, IPipelineGrain
{
    public Task<StageJoinReply> Join(StageJoin request) => Task.FromResult(admission.Join(request));

    public Task<bool> Put(int stage, string box, int chunks, long length, byte[] sha256, Chunk chunk)
    {
        mailbox.Seen(stage);
        return Task.FromResult(mailbox.PutChunk(box, chunks, length, sha256, chunk));
    }

    public async Task<Parcel?> TakeFirst(int stage, string box, int waitMs)
    {
        mailbox.Seen(stage);
        var p = await mailbox.TakeFirst(box, TimeSpan.FromMilliseconds(Math.Clamp(waitMs, 0, 10_000)), Chunks.DefaultBytes);
        mailbox.Seen(stage);
        return p;
    }

    public Task<Chunk> TakeChunk(int stage, string box, int index)
    {
        mailbox.Seen(stage);
        return Task.FromResult(mailbox.TakeChunk(box, index, Chunks.DefaultBytes));
    }

    public Task Beat(int stage)
    {
        mailbox.Seen(stage);
        return Task.CompletedTask;
    }
}
