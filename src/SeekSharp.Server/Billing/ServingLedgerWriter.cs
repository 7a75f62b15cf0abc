using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace SeekSharp.Server.Billing;

/// <summary>Writes the server's ledger.json (ServerOptions.LedgerPath) when the server stops: its whole run, every key's part.</summary>
public sealed class ServingLedgerWriter(ServingLedger ledger, ServerOptions options, ILogger<ServingLedgerWriter> log) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken)
    {
        var entry = ledger.Finish();
        if (options.LedgerPath is not { } path) return Task.CompletedTask;
        // A full disk must not stop the shutdown; AtomicFile leaves any earlier ledger as it was.
        try { entry.Write(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { log.LogError(e, "could not write the serving ledger {Path}", path); }
        return Task.CompletedTask;
    }
}
