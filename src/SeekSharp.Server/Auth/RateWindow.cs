using System.Diagnostics;

namespace SeekSharp.Server.Auth;

/// <summary>A sliding one-minute window of request times: at most <c>limit</c> requests in any 60 seconds.</summary>
public sealed class RateWindow(int limit)
{
    static readonly long Minute = Stopwatch.Frequency * 60;
    readonly Queue<long> times = new();
    readonly Lock gate = new();

    /// <summary>Counts a request if the window has room; otherwise says how long until it will.</summary>
    public bool TryAcquire(out TimeSpan retryAfter) => TryAcquire(Stopwatch.GetTimestamp(), out retryAfter);

    internal bool TryAcquire(long now, out TimeSpan retryAfter)
    {
        lock (gate)
        {
            while (times.Count > 0 && now - times.Peek() >= Minute) times.Dequeue();
            if (times.Count < limit)
            {
                times.Enqueue(now);
                retryAfter = TimeSpan.Zero;
                return true;
            }
            retryAfter = TimeSpan.FromSeconds((double)(times.Peek() + Minute - now) / Stopwatch.Frequency);
            return false;
        }
    }
}
