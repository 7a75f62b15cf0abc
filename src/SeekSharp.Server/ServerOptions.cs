using SeekSharp.Ledger;
using SeekSharp.Server.Billing;

namespace SeekSharp.Server;

/// <summary>How a server behaves beyond the model it serves.</summary>
public sealed record ServerOptions
{
    /// <summary>Largest request body accepted, in bytes; larger ones get a 400.</summary>
    public int MaxBodyBytes { get; init; } = 1 << 20;

    /// <summary>Upper bound of `n` (choices per request); each choice is a batch slot.</summary>
    public int MaxChoices { get; init; } = 8;

    /// <summary>Prices for usage.cost_usd and budgets.</summary>
    public Pricing Pricing { get; init; } = Pricing.Default;

    /// <summary>Keys file (hashed keys, limits); null = no authentication.</summary>
    public string? ApiKeysFile { get; init; }

    /// <summary>Host header names answered besides loopback ones (localhost, 127.x, [::1]); "*" = any (see Api/HostFilter.cs).</summary>
    public IReadOnlyList<string> AllowedHosts { get; init; } = [];

    /// <summary>Prices the serving share of compute, network and energy in /v1/usage and the server's ledger.</summary>
    public HardwareProfile Hardware { get; init; } = HardwareProfile.Default;

    /// <summary>Where the server's ledger.json is written on shutdown; null: not written.</summary>
    public string? LedgerPath { get; init; }
}
