using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using SeekSharp.Data;
using SeekSharp.Modeling;
using SeekSharp.Training;
using static TorchSharp.torch;

namespace SeekSharp.Distributed;

// `seek worker`: an Orleans client of the hub. It joins with the run's token (its data's tokenizer hash and vocabulary
// are checked there), then per round fetches what changed of the weights (nothing, the int8 change from the version it
// holds, or the full weights), takes H inner steps with the pretraining step (PretrainModel: the same AdamW, schedule
// and batches as `seek base train`; its moments are kept across rounds, as in DiLoCo), and sends the pseudo-gradient
// θ_start − θ_end in chunks. Only weights, pseudo-gradients and counts leave the machine, never tokens.
// Faults: any failed call (hub gone, timeout) drops the client and reconnects with backoff (1, 2, 4 ... 10 s) until
// --connect-timeout; a hub that comes back (`seek hub --resume`) is joined again and the cached weights are kept
// when they are of its current version.

public sealed record WorkerOptions
{
    /// <summary>The hub's gateway, HOST:PORT (not needed with <see cref="Cluster"/>).</summary>
    public string? Hub { get; init; }
    public string? Cluster { get; init; }
    public required string DataDir { get; init; }
    public required string Token { get; init; }
    public string Name { get; init; } = $"{Environment.MachineName}-{Environment.ProcessId}";
    /// <summary>Sequences per inner step; 0 takes the hub's.</summary>
    public int BatchSize { get; init; }
    /// <summary>libtorch threads; 0 leaves libtorch's default.</summary>
    public int Threads { get; init; }
    /// <summary>Seconds to keep trying to reach the hub before giving up.</summary>
    public double ConnectTimeoutSeconds { get; init; } = 120;
    /// <summary>Milliseconds slept after each inner step: stands for a slower device or link in tests and benchmarks.</summary>
    public int InnerDelayMs { get; init; }
}

public sealed record WorkerResult(int Rounds, int Accepted, long BytesSent, long BytesReceived, long Tokens, double Seconds);

public sealed class Worker(WorkerOptions o, Action<string> say)
{
    static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(30);
    float[]? weights;
    long version = -1;
    string runId = "";
    PretrainModel? model;
    TrainConfig? tc;
    ErrorFeedback? feedback;
    long sent, received, tokens;
    int rounds, accepted;

    public WorkerResult Run(CancellationToken cancel = default)
    {
        if (o.Hub is null && o.Cluster is null) throw new SeekSharpException("--hub: expected HOST:PORT (or --cluster redis://HOST:PORT).");
        var endpoint = o.Hub is null ? null : Cluster.ParseEndpoint(o.Hub, "--hub");
        if (o.Threads > 0) set_num_threads(o.Threads);
        using var ds = TokenDataset.Open(o.DataDir);
        var train = new TokenBatchSampler(ds.Train);
        var clock = Stopwatch.StartNew();
        try
        {
            while (true)
            {
                cancel.ThrowIfCancellationRequested();
                using var client = Connect(endpoint, cancel);
                var grain = client.Services.GetRequiredService<IClusterClient>().GetGrain<ICoordinatorGrain>(Cluster.GrainKey);
                try
                {
                    if (Session(grain, ds, train, cancel)) break;
                }
                catch (Exception e) when (IsTransport(e))
                {
                    say($"lost the hub ({e.GetType().Name}): reconnecting");
                }
                finally { try { client.StopAsync(TimeSpan.FromSeconds(2)).GetAwaiter().GetResult(); } catch (Exception e) when (IsTransport(e)) { } }
            }
        }
        finally { model?.Dispose(); }
        return new WorkerResult(rounds, accepted, sent, received, tokens, clock.Elapsed.TotalSeconds);
    }

    /// <summary>Downloads the run's tokenizer into <paramref name="outDir"/> (for `seek data prepare --tokenizer`), without joining.</summary>
    public IReadOnlyList<string> FetchTokenizer(string outDir, CancellationToken cancel = default)
    {
        var endpoint = o.Hub is null ? null : Cluster.ParseEndpoint(o.Hub, "--hub");
        using var client = Connect(endpoint, cancel);
        var grain = client.Services.GetRequiredService<IClusterClient>().GetGrain<ICoordinatorGrain>(Cluster.GrainKey);
        Directory.CreateDirectory(outDir);
        var written = new List<string>();
        foreach (var file in Tokenization.BpeTokenizer.FileNames)
        {
            PayloadInfo info;
            try { info = grain.TokenizerFile(o.Token, file).GetAwaiter().GetResult(); }
            catch (ArgumentException e) { throw new SeekSharpException($"refused by the hub: {e.Message}"); }
            var asm = new ChunkAssembler(info.Chunks, info.Length);
            for (int i = 0; i < info.Chunks; i++)
            {
                var c = grain.TokenizerChunk(o.Token, file, i).GetAwaiter().GetResult();
                received += c.Data.Length;
                if (!asm.Add(c)) { i--; continue; }
            }
            var (bytes, problem) = asm.Assemble(info.Sha256);
            if (bytes is null) throw new SeekSharpException($"hub tokenizer file {file}: {problem}");
            var path = Path.Combine(outDir, file);
            IO.AtomicFile.WriteAllBytes(path, bytes);
            written.Add(path);
        }
        client.StopAsync(TimeSpan.FromSeconds(2)).GetAwaiter().GetResult();
        return written;
    }

    static bool IsTransport(Exception e) => e is not SeekSharpException and not OperationCanceledException { CancellationToken.IsCancellationRequested: true }
        && (e is TimeoutException or OrleansException or System.Net.Sockets.SocketException or InvalidOperationException or IOException
            || e.GetType().Namespace?.StartsWith("Orleans", StringComparison.Ordinal) == true);

    IHost Connect(System.Net.IPEndPoint? endpoint, CancellationToken cancel)
    {
        var deadline = DateTime.UtcNow.AddSeconds(o.ConnectTimeoutSeconds);
        double wait = 1;
        string where = o.Cluster ?? o.Hub!;
        while (true)
        {
            var host = Cluster.BuildClient(endpoint, o.Cluster, CallTimeout);
            try
            {
                host.StartAsync(cancel).GetAwaiter().GetResult();
                return host;
            }
            catch (Exception e) when (IsTransport(e) || e is AggregateException)
            {
                host.Dispose();
                if (DateTime.UtcNow.AddSeconds(wait) > deadline)
                    throw new SeekSharpException($"--hub: cannot reach the hub at {where} (gave up after {o.ConnectTimeoutSeconds:G4} s of retries; is `seek hub` running and the port open?)");
                say($"hub unreachable at {where}: retrying in {wait:G2} s");
                Thread.Sleep(TimeSpan.FromSeconds(wait));
                wait = Math.Min(10, wait * 2);
            }
        }
    }

    /// <summary>Joins and works until the run ends (true) or the session is lost (false: join again).</summary>
    bool Session(ICoordinatorGrain grain, TokenDataset ds, TokenBatchSampler train, CancellationToken cancel)
    {
        var reply = grain.Join(new JoinRequest { Token = o.Token, Name = o.Name, TokenizerHash = ds.TokenizerHash, VocabSize = ds.VocabSize, TrainTokens = ds.TrainTokens })
            .GetAwaiter().GetResult();
        if (!reply.Accepted) throw new SeekSharpException($"refused by the hub: {reply.Reason}");
        if (reply.RunId != runId) { weights = null; version = -1; runId = reply.RunId; }
        Prepare(reply);
        say($"joined run {reply.RunId} as {o.Name}: H = {reply.InnerSteps} inner steps, {reply.OuterSteps} rounds, {reply.Compress} payloads, batch {tc!.BatchSize}");
        var session = reply.Session;
        using var heartbeat = new Heartbeat(grain, session, TimeSpan.FromSeconds(Math.Max(0.2, reply.LeaseSeconds / 4)));
        try
        {
            while (true)
            {
                cancel.ThrowIfCancellationRequested();
                if (heartbeat.Finished is { } v) { say($"run finished at round {v}"); return true; }
                heartbeat.ThrowIfFailed();
                var t = grain.Poll(session).GetAwaiter().GetResult();
                if (!t.Known) { say("the hub no longer knows this session (lease expired or hub restarted): joining again"); return false; }
                if (t.State == TicketState.Finished) { say($"run finished at round {t.Version}"); return true; }
                if (t.Version != version) Fetch(grain, session);
                if (t.State == TicketState.Wait) { Thread.Sleep(100); continue; }
                TrainRound(grain, session, t, reply, train, heartbeat);
            }
        }
        // The hub counts a heartbeat's poll as "told finished" and may stop right after it: a call that fails then is the
        // run's end, not a lost hub to wait for.
        catch (Exception e) when (IsTransport(e) && heartbeat.Finished is { } v)
        {
            say($"run finished at round {v}");
            return true;
        }
    }

    void Prepare(JoinReply reply)
    {
        var cfg = ModelConfig.FromJson(reply.ModelConfigJson, "hub model config");
        var hubTc = JsonSerializer.Deserialize<TrainConfig>(reply.TrainConfigJson, TrainConfig.Json)!;
        var want = hubTc with { BatchSize = o.BatchSize > 0 ? o.BatchSize : hubTc.BatchSize, Seed = hubTc.Seed + StableHash(o.Name) };
        if (model is not null && tc == want && model.Model.Config.ToJson() == cfg.ToJson()) return;
        model?.Dispose();
        tc = want.Validate("inner optimizer");
        model = new PretrainModel(cfg, tc, reply.SeqLen);
        feedback = reply.Compress == Codecs.Int8 ? new ErrorFeedback((int)WeightVector.Length(model.Model)) : null;
    }

    static int StableHash(string s) => BitConverter.ToInt32(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(s))) & 0xFFFF;

    void Fetch(ICoordinatorGrain grain, string session)
    {
        var info = grain.Weights(session, weights is null ? -1 : version).GetAwaiter().GetResult();
        if (info.Kind == "none") { version = info.Version; return; }
        var asm = new ChunkAssembler(info.Chunks, info.Length);
        for (int i = 0; i < info.Chunks; i++)
        {
            var c = grain.WeightsChunk(session, info.Id, i).GetAwaiter().GetResult();
            if (c.Index < 0) return;                      // replaced meanwhile: the next poll fetches the newer one
            received += c.Data.Length;
            if (!asm.Add(c)) { i--; continue; }           // damaged on the way: ask again
        }
        var (payload, problem) = asm.Assemble(info.Sha256);
        if (payload is null) { say($"weights payload rejected ({problem}); fetching again"); return; }
        var n = (int)WeightVector.Length(model!.Model);
        if (info.Kind == "full")
        {
            var w = new float[n];
            if (Codecs.TryDecode(Codecs.None, payload, w) is { } bad) throw new SeekSharpException($"hub weights: {bad}");
            weights = w;
        }
        else
        {
            var change = new float[n];
            if (Codecs.TryDecode(Codecs.Int8, payload, change) is { } bad) throw new SeekSharpException($"hub weight change: {bad}");
            for (int i = 0; i < n; i++) weights![i] += change[i];   // the hub adds the same decoded values: same bits
        }
        version = info.Version;
    }

    void TrainRound(ICoordinatorGrain grain, string session, RoundTicket t, JoinReply reply, TokenBatchSampler train, Heartbeat heartbeat)
    {
        var run = model!;
        var start = weights!;
        WeightVector.Write(run.Model, start);
        run.Optimizer.WeightsChanged();
        var clock = Stopwatch.StartNew();
        double loss = 0;
        for (int i = 0; i < reply.InnerSteps; i++)
        {
            int step = Math.Min(t.Round * reply.InnerSteps + i, tc!.Steps - 1);
            loss = run.Run(train, step, LrSchedule.At(step, tc)).Loss;
            if (o.InnerDelayMs > 0) Thread.Sleep(o.InnerDelayMs);
            if (heartbeat.Finished is not null) return;   // the run ended meanwhile: nothing to send
        }
        var end = WeightVector.Read(run.Model);
        var delta = new float[end.Length];
        for (int i = 0; i < delta.Length; i++) delta[i] = start[i] - end[i];
        var payload = feedback is null ? Codecs.Encode(Codecs.None, delta) : feedback.Encode(Codecs.Int8, delta).Payload;
        int chunkBytes = Chunks.DefaultBytes, count = Chunks.Count(payload.Length, chunkBytes);
        for (int i = 0; i < count; i++)
        {
            var c = Chunks.Slice(payload, i, chunkBytes);
            for (int attempt = 0; ; attempt++)
            {
                sent += c.Data.Length;
                if (grain.Upload(session, t.Round, c).GetAwaiter().GetResult()) break;
                if (attempt == 3) throw new TimeoutException($"chunk {i} refused 4 times");
            }
        }
        long n = (long)run.TokensPerStep * reply.InnerSteps;
        var commit = grain.Commit(session, new UpdateSummary
        {
            Round = t.Round, BaseVersion = t.Version, Chunks = count, Length = payload.Length, Sha256 = SHA256.HashData(payload),
            Codec = feedback is null ? Codecs.None : Codecs.Int8, Tokens = n, InnerSteps = reply.InnerSteps,
            Seconds = clock.Elapsed.TotalSeconds, Loss = loss,
        }).GetAwaiter().GetResult();
        rounds++;
        tokens += n;
        if (commit.Accepted) accepted++;
        say($"round {t.Round + 1}: {reply.InnerSteps} inner steps, loss {loss:F4}, {payload.Length:N0} B sent, " +
            $"{clock.Elapsed.TotalSeconds:F1} s: {(commit.Accepted ? "accepted" : "not used: " + commit.Reason)}");
    }

    /// <summary>Polls in the background while the inner steps run, so a long round does not let the lease lapse.</summary>
    internal sealed class Heartbeat : IDisposable
    {
        readonly CancellationTokenSource stop = new();
        readonly Task loop;
        Exception? failure;
        long finished = -1;

        /// <summary>The hub's final version once a heartbeat's poll was answered "finished"; null before.</summary>
        public long? Finished => Interlocked.Read(ref finished) is var v && v >= 0 ? v : null;

        public Heartbeat(ICoordinatorGrain grain, string session, TimeSpan every)
        {
            loop = Task.Run(async () =>
            {
                while (!stop.IsCancellationRequested)
                {
                    try
                    {
                        await Task.Delay(every, stop.Token);
                        var t = await grain.Poll(session);
                        if (t.State == TicketState.Finished) { Interlocked.Exchange(ref finished, t.Version); return; }
                    }
                    catch (OperationCanceledException) { return; }
                    catch (Exception e) { failure = e; return; }
                }
            });
        }

        public void ThrowIfFailed() { if (failure is { } e) throw new TimeoutException("heartbeat failed: " + e.Message, e); }

        public void Dispose()
        {
            stop.Cancel();
            try { loop.Wait(TimeSpan.FromSeconds(2)); } catch (AggregateException) { }
            stop.Dispose();
        }
    }
}
