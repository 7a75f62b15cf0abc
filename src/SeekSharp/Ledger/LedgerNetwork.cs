using System.Text.Json.Serialization;

namespace SeekSharp.Ledger;

// The network resource of a run that trained across machines (`seek hub`): bytes measured where the payloads are
// cut into chunks (weights down, pseudo-gradients up), per worker; the transport's own framing is not in them.

/// <summary>Bytes a run sent and received over the network.</summary>
public sealed record LedgerNetwork
{
    /// <summary>Where the bytes were counted ("payload": chunk bytes, without the transport's framing).</summary>
    [JsonPropertyName("measured_at")] public string MeasuredAt { get; init; } = "payload";
    [JsonPropertyName("bytes_sent")] public long BytesSent { get; init; }
    [JsonPropertyName("bytes_received")] public long BytesReceived { get; init; }
    [JsonPropertyName("rounds")] public int Rounds { get; init; }
    /// <summary>By worker name.</summary>
    [JsonPropertyName("peers")] public Dictionary<string, LedgerNetworkPeer> Peers { get; init; } = [];
}

/// <summary>One worker's share: what the hub sent it and received from it, and the work its updates carried.</summary>
public sealed record LedgerNetworkPeer
{
    [JsonPropertyName("bytes_sent")] public long BytesSent { get; init; }
    [JsonPropertyName("bytes_received")] public long BytesReceived { get; init; }
    /// <summary>Rounds its update was averaged into.</summary>
    [JsonPropertyName("rounds")] public int Rounds { get; init; }
    [JsonPropertyName("tokens")] public long Tokens { get; init; }
    [JsonPropertyName("inner_steps")] public long InnerSteps { get; init; }
    [JsonPropertyName("seconds")] public double Seconds { get; init; }
    /// <summary>Mean bytes (sent + received) per round it took part in.</summary>
    [JsonPropertyName("bytes_per_round")] public double BytesPerRound => Rounds == 0 ? 0 : (double)(BytesSent + BytesReceived) / Rounds;
}
