using System.Threading.Channels;

namespace SeekSharp.Server.Auth;

// Group commit: callers queue their line and wait; one writer appends everything queued so far, fsyncs
// once and releases the whole batch, so a burst of N finished requests costs one fsync, not N, and no
// caller is released before its line is on disk. A failed write (a full disk) cuts the file back to where
// the batch began, so the journal never holds a torn line in its middle, and fails the batch's callers.
// Between batches the writer compacts: once the journal is past CompactBytes it asks the ledger to write
// its snapshot and then empties the journal (the snapshot's sequence number makes replay skip what it holds).

/// <summary>The append-only file behind a <see cref="UsageLedger"/>: one JSON line per answered request.</summary>
sealed class UsageJournal : IAsyncDisposable
{
    public const long CompactBytes = 1 << 20;
    readonly FileStream file, held;
    readonly Action writeSnapshot;
    readonly Channel<(byte[] Line, TaskCompletionSource Durable)> queue =
        Channel.CreateUnbounded<(byte[], TaskCompletionSource)>(new UnboundedChannelOptions { SingleReader = true });
    readonly Task writer;

    /// <param name="file">The journal, positioned at its end.</param>
    /// <param name="held">The exclusive lock that makes this the only writer; released on dispose.</param>
    /// <param name="writeSnapshot">Writes the ledger's totals and sequence number atomically (called from the writer).</param>
    public UsageJournal(FileStream file, FileStream held, Action writeSnapshot)
    {
        this.file = file;
        this.held = held;
        this.writeSnapshot = writeSnapshot;
        writer = Task.Run(WriteLoopAsync);
    }

    public string Path => file.Name;

    /// <summary>Completes once <paramref name="line"/> (ending in '\n') is durable on disk.</summary>
    public Task AppendAsync(byte[] line)
    {
        var durable = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!queue.Writer.TryWrite((line, durable))) durable.SetException(new ObjectDisposedException(Path, "the usage journal is closed"));
        return durable.Task;
    }

    async Task WriteLoopAsync()
    {
        var batch = new List<(byte[] Line, TaskCompletionSource Durable)>();
        while (await queue.Reader.WaitToReadAsync())
        {
            while (queue.Reader.TryRead(out var item)) batch.Add(item);
            long start = file.Position;
            try
            {
                foreach (var (line, _) in batch) file.Write(line);
                file.Flush(flushToDisk: true);
                foreach (var (_, durable) in batch) durable.TrySetResult();
            }
            catch (Exception e)
            {
                try { file.SetLength(start); file.Position = start; } catch (IOException) { }
                foreach (var (_, durable) in batch) durable.TrySetException(e);
            }
            batch.Clear();
            if (file.Length > CompactBytes) TryCompact();
        }
    }

    /// <summary>Snapshot first, then empty the journal: a crash between the two only leaves lines replay skips.</summary>
    public void Compact()
    {
        writeSnapshot();
        file.SetLength(0);
        file.Position = 0;
        file.Flush(flushToDisk: true);
    }

    void TryCompact()
    {
        // A failed compaction loses nothing (the journal still holds every line); the next batch retries.
        try { Compact(); }
        catch (Exception) { }
    }

    /// <summary>Writes what is queued, compacts and closes the file.</summary>
    public async ValueTask DisposeAsync()
    {
        if (!queue.Writer.TryComplete()) return;   // closed already
        await writer;
        try { Compact(); }
        finally
        {
            await file.DisposeAsync();
            await held.DisposeAsync();
        }
    }
}
