namespace SeekSharp.Distributed;

/// <summary>What the coordinator enforces and tells joining workers; fixed for a run (saved in its checkpoints).</summary>
public sealed record HubSettings
{
    /// <summary>SHA-256 (hex) of the join token: the token itself is printed once and never stored.</summary>
    public required string TokenSha256 { get; init; }
    public required string TokenizerHash { get; init; }
    public required int VocabSize { get; init; }
    public required string ModelConfigJson { get; init; }
    /// <summary>The inner optimizer's settings (AdamW, schedule over inner_steps x outer_steps, batch, precision).</summary>
    public required string TrainConfigJson { get; init; }
    public required int SeqLen { get; init; }
    /// <summary>H: inner AdamW steps per round.</summary>
    public int InnerSteps { get; init; } = 50;
    /// <summary>N: rounds (outer steps).</summary>
    public int OuterSteps { get; init; } = 10;
    /// <summary>"none" (fp32) or "int8" pseudo-gradients and weight changes.</summary>
    public string Compress { get; init; } = Codecs.None;
    /// <summary>Updates a round needs before it may close (see Coordinator).</summary>
    public int MinWorkers { get; init; } = 1;
    /// <summary>Seconds a round waits for its participants.</summary>
    public double RoundTimeoutSeconds { get; init; } = 600;
    /// <summary>Seconds of silence after which a worker is dropped.</summary>
    public double LeaseSeconds { get; init; } = 15;
    public int ChunkBytes { get; init; } = Chunks.DefaultBytes;
}
