using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace SeekSharp.Server.Auth;

/// <summary>Flushes the usage ledger once a second while the server runs, and once more when it stops.</summary>
public sealed class UsageLedgerFlusher(UsageLedger ledger, ILogger<UsageLedgerFlusher> log) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken)) TryFlush();
        }
        catch (OperationCanceledException) { }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        TryFlush();
    }

    void TryFlush()
    {
        // A full disk must not take the server down; the next tick retries.
        try { ledger.Flush(); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { log.LogError(e, "could not write {Path}", ledger.Path); }
    }
}
