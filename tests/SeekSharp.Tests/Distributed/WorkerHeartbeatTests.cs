using SeekSharp.Distributed;

namespace SeekSharp.Tests.Distributed;

/// <summary>The worker's background poll. The hub counts any poll answered "finished" as the worker told, and stops once all
/// are told: the worker must then know the run is over even when its main loop is mid-round (CI once saw a slow worker
/// upload to a hub that had just stopped, and wait two minutes for it to come back).</summary>
public class WorkerHeartbeatTests
{
    sealed class FakeHub(Func<int, RoundTicket> answer) : ICoordinatorGrain
    {
        public int Polls;
        public Task<RoundTicket> Poll(string session) => Task.FromResult(answer(Interlocked.Increment(ref Polls)));
        public Task<JoinReply> Join(JoinRequest request) => throw new NotSupportedException();
        public Task<PayloadInfo> Weights(string session, long haveVersion) => throw new NotSupportedException();
        public Task<Chunk> WeightsChunk(string session, string payloadId, int index) => throw new NotSupportedException();
        public Task<bool> Upload(string session, int round, Chunk chunk) => throw new NotSupportedException();
        public Task<CommitReply> Commit(string session, UpdateSummary summary) => throw new NotSupportedException();
        public Task<PayloadInfo> TokenizerFile(string token, string file) => throw new NotSupportedException();
        public Task<Chunk> TokenizerChunk(string token, string file, int index) => throw new NotSupportedException();
    }

    static void WaitFor(Func<bool> condition)
    {
        var until = DateTime.UtcNow.AddSeconds(20);
        while (!condition()) { if (DateTime.UtcNow > until) throw new TimeoutException(); Thread.Sleep(10); }
    }

    [Fact]
    public void AHeartbeatAnsweredFinishedRemembersTheFinalVersionAndStopsPolling()
    {
        var hub = new FakeHub(n => n < 3 ? new RoundTicket { State = TicketState.Train, Round = 1, Version = 1 }
                                         : new RoundTicket { State = TicketState.Finished, Version = 4 });
        using var beat = new Worker.Heartbeat(hub, "s", TimeSpan.FromMilliseconds(5));
        Assert.Null(beat.Finished);
        WaitFor(() => beat.Finished is not null);
        Assert.Equal(4, beat.Finished);
        int polls = hub.Polls;
        Thread.Sleep(100);
        Assert.Equal(polls, hub.Polls);   // no poll after "finished"
        beat.ThrowIfFailed();              // finished is not a failure
    }

    [Fact]
    public void AHeartbeatThatCannotReachTheHubReportsItAsATransportFailure()
    {
        var hub = new FakeHub(_ => throw new TimeoutException("gone"));
        using var beat = new Worker.Heartbeat(hub, "s", TimeSpan.FromMilliseconds(5));
        WaitFor(() => { try { beat.ThrowIfFailed(); return false; } catch (TimeoutException) { return true; } });
        Assert.Null(beat.Finished);
    }
}
