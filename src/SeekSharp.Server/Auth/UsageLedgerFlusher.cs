using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace SeekSharp.Server.Auth;

/// <summary>Closes the usage ledger when the server stops: the journal is written out and compacted into the snapshot.</summary>
public sealed class UsageLedgerFlusher(UsageLedger ledger, ILogger<UsageLedgerFlusher> log) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        // A full disk must not stop the shutdown; every answered request is in the journal already.
        try { await ledger.DisposeAsync(); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { log.LogError(e, "could not compact {Path}", ledger.Path); }
    }
}
