using SeekSharp.Data;
using SeekSharp.Native;

namespace SeekSharp.Tests;

/// <summary>The ordered parallel map behind `data prepare` and `data tokenize`: order, bounded window, errors, early stop.</summary>
public class OrderedParallelTests
{
    [Fact]
    public void ResultsComeInInputOrderWhateverTheWorkTakes()
    {
        var results = OrderedParallel.Map(Enumerable.Range(0, 300), i =>
        {
            if (i % 7 == 0) Thread.Sleep(1);   // uneven work: later items finish first
            return i * 2;
        }, _ => 1, maxItems: 16, maxWeight: 1000, workers: 4).ToList();
        Assert.Equal(Enumerable.Range(0, 300).Select(i => i * 2), results);
    }

    [Fact]
    public void AtMostTheWindowIsInFlight()
    {
        int read = 0, consumed = 0, most = 0;
        IEnumerable<int> Source()
        {
            for (int i = 0; i < 200; i++)
            {
                Interlocked.Increment(ref read);
                yield return i;
            }
        }
        foreach (var _ in OrderedParallel.Map(Source(), i => i, i => i % 3 == 0 ? 50 : 1, maxItems: 8, maxWeight: 60, workers: 2))
        {
            most = Math.Max(most, Volatile.Read(ref read) - consumed);
            consumed++;
            Thread.SpinWait(2000);
        }
        Assert.Equal(200, consumed);
        // 8 items in flight, plus the one the reader has taken from the source while it waits for room.
        Assert.InRange(most, 1, 9);
    }

    [Fact]
    public void AnItemHeavierThanTheWindowStillGoes()
    {
        var results = OrderedParallel.Map([1, 1000, 2], i => i, i => i, maxItems: 4, maxWeight: 10).ToList();
        Assert.Equal([1, 1000, 2], results);
    }

    [Fact]
    public void ErrorsSurfaceOnTheCallersThread()
    {
        var e = Assert.Throws<InvalidOperationException>(() =>
            OrderedParallel.Map(Enumerable.Range(0, 100), i => i == 42 ? throw new InvalidOperationException("item 42") : i, _ => 1, 8, 100).ToList());
        Assert.Equal("item 42", e.Message);

        IEnumerable<int> Broken()
        {
            yield return 1;
            throw new IOException("disk gone");
        }
        Assert.Throws<IOException>(() => OrderedParallel.Map(Broken(), i => i, _ => 1, 8, 100).ToList());
    }

    [Fact]
    public void StoppingEarlyStopsTheReader()
    {
        int read = 0;
        IEnumerable<int> Endless()
        {
            for (int i = 0; ; i++) { Interlocked.Increment(ref read); yield return i; }
        }
        Assert.Equal([0, 1, 2], OrderedParallel.Map(Endless(), i => i, _ => 1, 4, 100).Take(3));
        int after = Volatile.Read(ref read);
        Thread.Sleep(20);
        Assert.Equal(after, Volatile.Read(ref read));   // every thread was joined: nothing reads on
    }

    [Fact]
    public void ThreadCpuClockCountsWorkNotSleep()
    {
        var t0 = ThreadCpuClock.Now();
        Thread.Sleep(50);
        var slept = ThreadCpuClock.Now() - t0;
        var t1 = ThreadCpuClock.Now();
        var w = System.Diagnostics.Stopwatch.StartNew();
        double x = 1;
        while (w.ElapsedMilliseconds < 30) x = Math.Sqrt(x + 1);
        var worked = ThreadCpuClock.Now() - t1;
        Assert.True(x > 0);
        Assert.True(worked > 5_000_000, $"30 ms of work counted {worked} ns");
        if (ThreadCpuClock.IsCpuTime) Assert.True(slept < 20_000_000, $"50 ms asleep counted {slept} ns of CPU");
    }
}
