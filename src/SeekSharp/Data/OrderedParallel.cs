using System.Collections.Concurrent;
using System.Runtime.ExceptionServices;

namespace SeekSharp.Data;

// Design: a streaming, order-preserving parallel map, the shape of `seek data prepare` and `seek data
// tokenize`: read → per-item work on every core → consume in input order. One thread reads the source
// (file I/O and parsing overlap the work), one worker per core maps items, and the caller's thread takes
// the results strictly in input order, so whatever it decides or writes is the same for any core count.
// There are no batch barriers: a large document delays only the results behind it, while the workers go
// on with the next items. Memory is bounded by a window of items in flight (read but not yet consumed),
// limited both in count and in a caller-defined weight (bytes); an item heavier than the whole window
// still passes alone. The first exception (from the source, a mapping or the consumer) stops the threads
// and surfaces on the caller's thread.

/// <summary>Maps a stream on all cores and yields the results in input order, with bounded memory.</summary>
public static class OrderedParallel
{
    /// <param name="source">Enumerated on one reader thread.</param>
    /// <param name="map">Runs on the worker threads; must be thread-safe.</param>
    /// <param name="weight">An item's share of <paramref name="maxWeight"/> (e.g. its bytes).</param>
    /// <param name="maxItems">Items in flight at most.</param>
    /// <param name="maxWeight">Summed weight in flight at most (an item heavier than this still goes, alone).</param>
    /// <param name="workers">Worker threads; 0 means one per core.</param>
    public static IEnumerable<TOut> Map<TIn, TOut>(IEnumerable<TIn> source, Func<TIn, TOut> map, Func<TIn, long> weight,
        int maxItems, long maxWeight, int workers = 0)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(map);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxItems, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxWeight, 1);
        return Run(source, map, weight, maxItems, maxWeight, workers > 0 ? workers : Environment.ProcessorCount);
    }

    sealed class Slot<TIn, TOut>(TIn item, long weight)
    {
        public TIn Item = item;
        public TOut? Result;
        public ExceptionDispatchInfo? Error;
        public readonly long Weight = weight;
        public readonly ManualResetEventSlim Done = new(false);
    }

    static IEnumerable<TOut> Run<TIn, TOut>(IEnumerable<TIn> source, Func<TIn, TOut> map, Func<TIn, long> weight,
        int maxItems, long maxWeight, int workerCount)
    {
        var window = new Window(maxItems, maxWeight);
        var inOrder = new BlockingCollection<Slot<TIn, TOut>>();
        var work = new BlockingCollection<Slot<TIn, TOut>>();
        ExceptionDispatchInfo? readError = null;

        var reader = new Thread(() =>
        {
            try
            {
                foreach (var item in source)
                {
                    var slot = new Slot<TIn, TOut>(item, weight(item));
                    if (!window.Enter(slot.Weight)) return;   // stopped
                    inOrder.Add(slot);
                    work.Add(slot);
                }
            }
            catch (Exception e) { readError = ExceptionDispatchInfo.Capture(e); }
            finally { inOrder.CompleteAdding(); work.CompleteAdding(); }
        }) { IsBackground = true, Name = "ordered-parallel reader" };

        var workers = Enumerable.Range(0, workerCount).Select(i => new Thread(() =>
        {
            foreach (var slot in work.GetConsumingEnumerable())
            {
                try { if (!window.Stopped) slot.Result = map(slot.Item); }
                catch (Exception e) { slot.Error = ExceptionDispatchInfo.Capture(e); }
                finally { slot.Item = default!; slot.Done.Set(); }   // the input is not needed any more
            }
        }) { IsBackground = true, Name = $"ordered-parallel worker {i}" }).ToList();

        reader.Start();
        workers.ForEach(w => w.Start());
        try
        {
            foreach (var slot in inOrder.GetConsumingEnumerable())
            {
                slot.Done.Wait();
                slot.Done.Dispose();
                window.Leave(slot.Weight);
                slot.Error?.Throw();
                yield return slot.Result!;
            }
            readError?.Throw();
        }
        finally
        {
            // Normal end, an exception, or a consumer that stopped early: stop reading, let the workers
            // drain what was queued without mapping it, and wait for every thread before returning.
            window.Stop();
            reader.Join();
            workers.ForEach(w => w.Join());
        }
    }

    /// <summary>The in-flight budget: items and weight entered but not yet left.</summary>
    sealed class Window(int maxItems, long maxWeight)
    {
        readonly object gate = new();   // a monitor, for Wait/PulseAll
        int items;
        long load;
        volatile bool stopped;

        public bool Stopped => stopped;

        /// <summary>Waits for room; false once stopped.</summary>
        public bool Enter(long w)
        {
            lock (gate)
            {
                while (!stopped && items > 0 && (items >= maxItems || load + w > maxWeight)) Monitor.Wait(gate);
                if (stopped) return false;
                items++;
                load += w;
                return true;
            }
        }

        public void Leave(long w)
        {
            lock (gate)
            {
                items--;
                load -= w;
                Monitor.PulseAll(gate);
            }
        }

        public void Stop()
        {
            lock (gate)
            {
                stopped = true;
                Monitor.PulseAll(gate);
            }
        }
    }
}
