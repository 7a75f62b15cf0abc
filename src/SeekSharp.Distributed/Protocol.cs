namespace SeekSharp.Distributed;

// The only surface that crosses processes: one coordinator grain (hosted by the hub's silo) that workers, as Orleans
// clients, call. Every message is small except chunks, which carry at most ChunkBytes (1-4 MiB) of a payload each
// with its SHA-256, so a model-sized payload is many bounded calls, each with its own timeout and retry, never one
// message. Payloads are opaque bytes here (Payload.cs says what is inside).

/// <summary>The coordinator of one DiLoCo run.</summary>
[Alias("SeekSharp.ICoordinatorGrain")]
public interface ICoordinatorGrain : IGrainWithStringKey
{
    /// <summary>Admits a worker that has the run's join token and data of the run's tokenizer and vocabulary.</summary>
    [Alias("Join")] Task<JoinReply> Join(JoinRequest request);

    /// <summary>What the worker should do now; renews its lease.</summary>
    [Alias("Poll")] Task<RoundTicket> Poll(string session);

    /// <summary>Describes the payload that brings a worker from <paramref name="haveVersion"/> (-1: nothing) to the current weights.</summary>
    [Alias("Weights")] Task<PayloadInfo> Weights(string session, long haveVersion);

    /// <summary>Chunk <paramref name="index"/> of the payload <see cref="Weights"/> described.</summary>
    [Alias("WeightsChunk")] Task<Chunk> WeightsChunk(string session, string payloadId, int index);

    /// <summary>One chunk of a pseudo-gradient; false when its checksum does not match (the worker sends it again).</summary>
    [Alias("Upload")] Task<bool> Upload(string session, int round, Chunk chunk);

    /// <summary>Ends an upload: the hub checks the whole payload and takes it into the round, or says why not.</summary>
    [Alias("Commit")] Task<CommitReply> Commit(string session, UpdateSummary summary);

    /// <summary>Describes one of the run's tokenizer files (tokenizer.json, tokenizer_config.json), for a worker that
    /// prepares its own data with the hub's tokenizer before joining; needs the join token.</summary>
    [Alias("TokenizerFile")] Task<PayloadInfo> TokenizerFile(string token, string file);

    /// <summary>Chunk <paramref name="index"/> of a tokenizer file.</summary>
    [Alias("TokenizerChunk")] Task<Chunk> TokenizerChunk(string token, string file, int index);
}

[GenerateSerializer, Alias("SeekSharp.JoinRequest")]
public sealed record JoinRequest
{
    [Id(0)] public required string Token { get; init; }
    [Id(1)] public required string Name { get; init; }
    [Id(2)] public required string TokenizerHash { get; init; }
    [Id(3)] public required int VocabSize { get; init; }
    [Id(4)] public long TrainTokens { get; init; }
}

[GenerateSerializer, Alias("SeekSharp.JoinReply")]
public sealed record JoinReply
{
    [Id(0)] public bool Accepted { get; init; }
    /// <summary>Why a join was refused (a whole sentence naming the field).</summary>
    [Id(1)] public string? Reason { get; init; }
    /// <summary>Identifies this admission; every later call carries it.</summary>
    [Id(2)] public string Session { get; init; } = "";
    [Id(3)] public string RunId { get; init; } = "";
    [Id(4)] public string ModelConfigJson { get; init; } = "";
    [Id(5)] public string TrainConfigJson { get; init; } = "";
    [Id(6)] public int InnerSteps { get; init; }
    [Id(7)] public int OuterSteps { get; init; }
    [Id(8)] public string Compress { get; init; } = "none";
    [Id(9)] public double LeaseSeconds { get; init; }
    [Id(10)] public int SeqLen { get; init; }
}

public enum TicketState { Wait, Train, Finished }

[GenerateSerializer, Alias("SeekSharp.RoundTicket")]
public sealed record RoundTicket
{
    [Id(0)] public TicketState State { get; init; }
    [Id(1)] public int Round { get; init; }
    /// <summary>Version of the current weights (rounds applied so far).</summary>
    [Id(2)] public long Version { get; init; }
    /// <summary>False when the session is unknown (the hub restarted or the lease expired): join again.</summary>
    [Id(3)] public bool Known { get; init; } = true;
}

[GenerateSerializer, Alias("SeekSharp.PayloadInfo")]
public sealed record PayloadInfo
{
    [Id(0)] public string Id { get; init; } = "";
    /// <summary>"full" (fp32 weights) or "delta" (int8 change from Version - 1); "none" when the worker is current.</summary>
    [Id(1)] public string Kind { get; init; } = "none";
    [Id(2)] public long Version { get; init; }
    [Id(3)] public long Length { get; init; }
    [Id(4)] public int Chunks { get; init; }
    [Id(5)] public byte[] Sha256 { get; init; } = [];
}

[GenerateSerializer, Alias("SeekSharp.Chunk")]
public sealed record Chunk
{
    [Id(0)] public int Index { get; init; }
    [Id(1)] public byte[] Data { get; init; } = [];
    [Id(2)] public byte[] Sha256 { get; init; } = [];
}

[GenerateSerializer, Alias("SeekSharp.UpdateSummary")]
public sealed record UpdateSummary
{
    [Id(0)] public int Round { get; init; }
    /// <summary>The version of the weights the inner steps started from.</summary>
    [Id(1)] public long BaseVersion { get; init; }
    [Id(2)] public int Chunks { get; init; }
    [Id(3)] public long Length { get; init; }
    [Id(4)] public byte[] Sha256 { get; init; } = [];
    [Id(5)] public string Codec { get; init; } = "none";
    [Id(6)] public long Tokens { get; init; }
    [Id(7)] public int InnerSteps { get; init; }
    [Id(8)] public double Seconds { get; init; }
    [Id(9)] public double Loss { get; init; }
}

[GenerateSerializer, Alias("SeekSharp.CommitReply")]
public sealed record CommitReply
{
    [Id(0)] public bool Accepted { get; init; }
    [Id(1)] public string? Reason { get; init; }
}
