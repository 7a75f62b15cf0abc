using System.Security.Cryptography;
using SeekSharp.Distributed;

namespace SeekSharp.Tests.Distributed;

/// <summary>The hub's round rules and input checks, called directly (the grain only forwards to them; the process tests
/// drive the same code through Orleans).</summary>
public class CoordinatorTests
{
    const int N = 600;
    double now;

    Coordinator Make(int minWorkers = 1, double timeout = 10, double lease = 5, string compress = Codecs.None)
    {
        var settings = new HubSettings
        {
            TokenSha256 = Coordinator.HashToken("secret"), TokenizerHash = "abcd", VocabSize = 300, ModelConfigJson = "{}", TrainConfigJson = "{}",
            SeqLen = 32, InnerSteps = 2, OuterSteps = 3, Compress = compress, MinWorkers = minWorkers, RoundTimeoutSeconds = timeout, LeaseSeconds = lease,
        };
        var c = new Coordinator(settings, "run", 0, () => now) { Length = N };
        c.Publish(0, Codecs.Encode(Codecs.None, new float[N]), null);
        return c;
    }

    static string Join(Coordinator c, string name, string token = "secret", string hash = "abcd", int vocab = 300)
    {
        var r = c.Join(new JoinRequest { Token = token, Name = name, TokenizerHash = hash, VocabSize = vocab });
        return r.Accepted ? r.Session : throw new InvalidOperationException(r.Reason);
    }

    static CommitReply Send(Coordinator c, string session, int round, float[] delta, string codec = Codecs.None, long tokens = 64, Func<Chunk, Chunk>? tamper = null)
    {
        var payload = Codecs.Encode(codec, delta);
        int count = Chunks.Count(payload.Length, Chunks.DefaultBytes);
        for (int i = 0; i < count; i++) c.Upload(session, round, (tamper ?? (x => x))(Chunks.Slice(payload, i, Chunks.DefaultBytes)));
        return c.Commit(session, new UpdateSummary
        {
            Round = round, BaseVersion = c.Version, Chunks = count, Length = payload.Length, Sha256 = SHA256.HashData(payload),
            Codec = codec, Tokens = tokens, InnerSteps = 2, Seconds = 1,
        });
    }

    [Fact]
    public void JoinsAreRefusedWithAReasonForAWrongTokenTokenizerOrVocabulary()
    {
        var c = Make();
        Assert.Contains("join token", c.Join(new JoinRequest { Token = "guess", Name = "a", TokenizerHash = "abcd", VocabSize = 300 }).Reason);
        Assert.Contains("tokenizer hash ffff differs", c.Join(new JoinRequest { Token = "secret", Name = "a", TokenizerHash = "ffff", VocabSize = 300 }).Reason);
        Assert.Contains("vocab_size 512 differs", c.Join(new JoinRequest { Token = "secret", Name = "a", TokenizerHash = "abcd", VocabSize = 512 }).Reason);
        Assert.Equal(3, c.Rejected.JoinsRefused);
        Assert.Equal(0, c.LiveWorkers);
        Join(c, "a");
        Assert.Equal(1, c.LiveWorkers);
    }

    [Fact]
    public void BadUpdatesAreRejectedCountedAndNotAveraged()
    {
        var c = Make(compress: Codecs.Int8);
        var a = Join(c, "a");
        c.Open(0);
        Assert.Equal(TicketState.Train, c.Poll(a).State);
        Assert.Contains("shape", Send(c, a, 0, new float[N - 1], Codecs.Int8).Reason);                  // wrong shape
        Assert.Contains("codec", Send(c, a, 0, new float[N], Codecs.None).Reason);                     // wrong codec
        var nan = new float[N];
        nan[3] = float.PositiveInfinity;
        Assert.Contains("scale", Send(c, a, 0, nan, Codecs.Int8).Reason);                               // Inf
        // A chunk whose checksum fails is refused at upload (the worker sends it again); one never resent leaves the update incomplete.
        Assert.Contains("chunks missing", Send(c, a, 0, new float[N], Codecs.Int8, tamper: ch => ch with { Sha256 = new byte[32] }).Reason);
        Assert.Equal((1, 2, 2), (c.Rejected.NonFinite, c.Rejected.Shape, c.Rejected.Checksum));
        Assert.False(c.ReadyToClose());                                                                  // nothing taken yet
        Assert.True(Send(c, a, 0, Enumerable.Repeat(0.5f, N).ToArray(), Codecs.Int8).Accepted);
        Assert.True(c.ReadyToClose());
        var closed = c.Close();
        Assert.Single(closed.Updates);
        Assert.All(closed.Updates[0].Delta, v => Assert.Equal(0.5f, v));
        Assert.Equal(5, c.Accounts["a"].Rejected);   // 4 updates and 1 chunk
    }

    [Fact]
    public void ARoundClosesWhenEveryLiveWorkerHasSentAndLateOrDeadOnesDoNotHoldItUp()
    {
        var c = Make(minWorkers: 2, timeout: 10, lease: 5);
        var (a, b, s) = (Join(c, "a"), Join(c, "b"), Join(c, "slow"));
        c.Open(0);
        Send(c, a, 0, new float[N]);
        Send(c, b, 0, new float[N]);
        now = 4; c.Poll(a); c.Poll(b); c.Poll(s);
        Assert.False(c.ReadyToClose());                          // "slow" is alive and has not sent
        var late = Join(c, "late");                              // joins mid-round: waits for the next
        Assert.Equal(TicketState.Wait, c.Poll(late).State);
        now = 10.5; c.Poll(a); c.Poll(b); c.Poll(s); c.Poll(late);
        Assert.True(c.ReadyToClose());                           // the deadline, with --min-workers updates
        Assert.Equal(2, c.Close().Updates.Count);
        var reply = Send(c, s, 0, new float[N]);                 // the slow one's update arrives after the close
        Assert.False(reply.Accepted);
        Assert.Contains("late", reply.Reason);
        Assert.Equal(1, c.Rejected.Stale);

        c.Publish(1, Codecs.Encode(Codecs.None, new float[N]), null);
        c.Open(1);
        Assert.Equal(TicketState.Train, c.Poll(late).State);     // contributes from the next round
        Send(c, a, 1, new float[N]); Send(c, b, 1, new float[N]); Send(c, late, 1, new float[N]);
        now = 16; c.Poll(a); c.Poll(b); c.Poll(late);            // "slow" goes silent past its lease
        Assert.True(c.ReadyToClose());
        Assert.Equal(1, c.Rejected.LeasesExpired);
        Assert.False(c.Poll(s).Known);                           // it has to join again
        Assert.Equal(3, c.Close().Updates.Count);
    }

    [Fact]
    public void AnUnderfilledRoundIsExtendedAtItsDeadlineAndAdmitsNewWorkers()
    {
        var c = Make(minWorkers: 2, timeout: 10, lease: 100);
        var a = Join(c, "a");
        c.Open(0);
        Send(c, a, 0, new float[N]);
        var b = Join(c, "b");
        Assert.Equal(TicketState.Wait, c.Poll(b).State);
        now = 11;
        Assert.False(c.ReadyToClose());                          // 1 of 2: extended, b admitted
        Assert.Equal(TicketState.Train, c.Poll(b).State);
        Send(c, b, 0, new float[N]);
        Assert.True(c.ReadyToClose());
    }

    [Fact]
    public void WorkersFetchOnlyWhatChanged()
    {
        var c = Make(compress: Codecs.Int8);
        var a = Join(c, "a");
        Assert.Equal("full", c.Weights(a, -1).Kind);
        Assert.Equal("none", c.Weights(a, 0).Kind);
        c.Publish(1, Codecs.Encode(Codecs.None, new float[N]), Codecs.Encode(Codecs.Int8, new float[N]));
        var delta = c.Weights(a, 0);
        Assert.Equal(("delta", Codecs.EncodedLength(Codecs.Int8, N)), (delta.Kind, delta.Length));
        Assert.Equal("full", c.Weights(a, -1).Kind);            // a worker without the previous version
        Assert.Equal(-1, c.WeightsChunk(a, "run:0:full", 0).Index);   // a replaced payload is not served
    }
}
