namespace SeekSharp.Server.Auth;

/// <summary>A caller the server recognised: its key's name and limits (null limits = unlimited).</summary>
public sealed class ApiCaller(string name, int? rpm, double? budgetUsd, bool admin = false)
{
    public string Name { get; } = name;
    /// <summary>May read /metrics (every key's traffic and cost).</summary>
    public bool Admin { get; } = admin;
    public int? Rpm { get; } = rpm;
    public double? BudgetUsd { get; } = budgetUsd;
    internal RateWindow? Window { get; } = rpm is { } r ? new RateWindow(r) : null;

    public static readonly ApiCaller Anonymous = new(UsageLedger.Anonymous, null, null);
}

/// <summary>The keys loaded from a keys file, looked up by the SHA-256 of a presented key.</summary>
public sealed class ApiKeyRegistry
{
    readonly Dictionary<string, ApiCaller> byHash;

    public ApiKeyRegistry(IEnumerable<ApiKeyEntry> entries) =>
        byHash = entries.ToDictionary(e => e.Sha256, e => new ApiCaller(e.Name, e.Rpm, e.BudgetUsd, e.Admin));

    public static ApiKeyRegistry Load(string path) => new(ApiKeyFile.Load(path));

    public int Count => byHash.Count;

    public ApiCaller? Find(string key) => byHash.GetValueOrDefault(ApiKeyFile.Hash(key));
}

/// <summary>The server's keys, or null when it runs without authentication.</summary>
public sealed record KeyRing(ApiKeyRegistry? Keys);
