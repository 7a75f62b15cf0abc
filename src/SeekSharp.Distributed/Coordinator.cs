using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;

namespace SeekSharp.Distributed;

// The hub's round state, behind the coordinator grain. The grain forwards each call here (one lock, no call waits on
// another), and the hub's loop (Hub.cs) drives rounds: Open, WaitToClose, Close, then the outer step, the checkpoint
// and Publish. Workers see new weights only after Publish, which comes after the checkpoint: no worker ever holds a
// version the hub could lose.
// Who takes part in a round: the workers with a live lease when it opens. A worker that joins later waits for the
// next round (it fetches the current weights meanwhile). A round closes as soon as every live participant has sent
// its update and at least --min-workers have; at the deadline it closes with what came if that is --min-workers or
// more, else it is extended by another --round-timeout and workers that joined since are admitted.
// Staleness rule: an update is taken only into the round it was computed for, while that round is open, from the
// weights of that round. A late one is dropped and counted (stale), never applied with a discount: with H inner steps
// a late update is a whole round old, and DiLoCo's averaging assumes every update starts from the same weights.
// Leases: every call renews the caller's; a worker silent for --lease seconds is dropped from the round and the run.

/// <summary>One worker's totals for the run, kept in every checkpoint.</summary>
public sealed record WorkerAccount
{
    public long Tokens { get; set; }
    public long InnerSteps { get; set; }
    public double Seconds { get; set; }
    /// <summary>Payload bytes the hub received from it (pseudo-gradient chunks).</summary>
    public long BytesReceived { get; set; }
    /// <summary>Payload bytes the hub sent it (weight chunks).</summary>
    public long BytesSent { get; set; }
    public int Accepted { get; set; }
    public int Rejected { get; set; }
    public int Stale { get; set; }
    public int RoundsSeen { get; set; }
}

/// <summary>Counts of updates and chunks refused, by reason.</summary>
public sealed record Rejections
{
    /// <summary>Chunks whose SHA-256 did not match (refused at upload, resent), and updates whose assembled payload did
    /// not match or missed chunks.</summary>
    public int Checksum { get; set; }
    public int Shape { get; set; }
    public int NonFinite { get; set; }
    public int Stale { get; set; }
    public int LeasesExpired { get; set; }
    public int JoinsRefused { get; set; }
}

/// <summary>What a closed round hands to the outer step.</summary>
public sealed record RoundUpdates(int Round, IReadOnlyList<(string Name, float[] Delta, long Tokens)> Updates,
    IReadOnlyDictionary<string, (long Up, long Down, long Tokens, int Steps, double Seconds, double Loss)> PerWorker);

public sealed class Coordinator(HubSettings settings, string runId, long version, Func<double>? clock = null)
{
    sealed class Session(string name)
    {
        public string Name { get; } = name;
        public double LastSeen;
        public Dictionary<int, Chunk> Chunks { get; } = [];
        public int UploadRound = -1;
    }

    readonly Lock gate = new();
    readonly Stopwatch watch = Stopwatch.StartNew();
    readonly Dictionary<string, Session> sessions = [];
    readonly Dictionary<string, byte[]> payloads = [];   // id -> bytes, the current version's
    readonly Dictionary<string, (long Up, long Down, long Tokens, int Steps, double Seconds, double Loss)> roundBytes = [];
    readonly Dictionary<string, (string Name, float[] Delta, long Tokens)> submitted = [];
    HashSet<string> participants = [];
    readonly HashSet<string> toldFinished = [];
    long payloadVersion = -1;
    string fullId = "", deltaId = "";
    bool open, finished;
    int round;
    double deadline;

    public Dictionary<string, WorkerAccount> Accounts { get; init; } = [];
    public Rejections Rejected { get; init; } = new();
    public long Version => version;
    public int Length { get; init; }
    public event Action<string>? Log;

    double Now => clock?.Invoke() ?? watch.Elapsed.TotalSeconds;

    public static string HashToken(string token) => Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(token))).ToLowerInvariant();

    public JoinReply Join(JoinRequest r)
    {
        lock (gate)
        {
            string? why = null;
            if (!CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(HashToken(r.Token)), Encoding.ASCII.GetBytes(settings.TokenSha256)))
                why = "join token: not this run's token (the hub printed it at start)";
            else if (r.TokenizerHash != settings.TokenizerHash)
                why = $"data: tokenizer hash {r.TokenizerHash} differs from the run's {settings.TokenizerHash} (tokenize the worker's data with the hub's tokenizer)";
            else if (r.VocabSize != settings.VocabSize)
                why = $"data: vocab_size {r.VocabSize} differs from the run's {settings.VocabSize}";
            else if (string.IsNullOrWhiteSpace(r.Name) || r.Name.Length > 100)
                why = "name: expected 1 to 100 characters";
            if (why is not null)
            {
                Rejected.JoinsRefused++;
                Log?.Invoke($"refused {r.Name}: {why}");
                return new JoinReply { Accepted = false, Reason = why };
            }
            foreach (var old in sessions.Where(s => s.Value.Name == r.Name).Select(s => s.Key).ToList()) Drop(old);
            var id = Guid.NewGuid().ToString("N");
            sessions[id] = new Session(r.Name) { LastSeen = Now };
            if (!Accounts.ContainsKey(r.Name)) Accounts[r.Name] = new WorkerAccount();
            Log?.Invoke($"joined: {r.Name} ({r.TrainTokens:N0} training tokens); {sessions.Count} worker(s)");
            return new JoinReply
            {
                Accepted = true, Session = id, RunId = runId, ModelConfigJson = settings.ModelConfigJson, TrainConfigJson = settings.TrainConfigJson,
                InnerSteps = settings.InnerSteps, OuterSteps = settings.OuterSteps, Compress = settings.Compress,
                LeaseSeconds = settings.LeaseSeconds, SeqLen = settings.SeqLen,
            };
        }
    }

    /// <summary>The run's tokenizer files by name (tokenizer.json, tokenizer_config.json), served to token holders.</summary>
    public IReadOnlyDictionary<string, byte[]> TokenizerFiles { get; init; } = new Dictionary<string, byte[]>();

    byte[] TokenizerBytes(string token, string file)
    {
        if (!CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(HashToken(token)), Encoding.ASCII.GetBytes(settings.TokenSha256)))
            throw new ArgumentException("join token: not this run's token");
        return TokenizerFiles.TryGetValue(file, out var b) ? b : throw new ArgumentException($"no tokenizer file '{file}'");
    }

    public PayloadInfo TokenizerFile(string token, string file)
    {
        var b = TokenizerBytes(token, file);
        return new PayloadInfo { Id = file, Kind = "file", Length = b.Length, Chunks = Chunks.Count(b.Length, settings.ChunkBytes), Sha256 = SHA256.HashData(b) };
    }

    public Chunk TokenizerChunk(string token, string file, int index) => Chunks.Slice(TokenizerBytes(token, file), index, settings.ChunkBytes);

    public RoundTicket Poll(string session)
    {
        lock (gate)
        {
            if (!Touch(session)) return new RoundTicket { Known = false };
            if (finished) { toldFinished.Add(session); return new RoundTicket { State = TicketState.Finished, Version = version }; }
            bool train = open && participants.Contains(session) && !submitted.ContainsKey(session);
            return new RoundTicket { State = train ? TicketState.Train : TicketState.Wait, Round = round, Version = version };
        }
    }

    public PayloadInfo Weights(string session, long have)
    {
        lock (gate)
        {
            if (!Touch(session)) throw new InvalidOperationException("unknown session: join again");
            if (have == version) return new PayloadInfo { Kind = "none", Version = version };
            var id = have == version - 1 && deltaId != "" ? deltaId : fullId;
            var bytes = payloads[id];
            return new PayloadInfo
            {
                Id = id, Kind = id == deltaId ? "delta" : "full", Version = version, Length = bytes.Length,
                Chunks = Chunks.Count(bytes.Length, settings.ChunkBytes), Sha256 = SHA256.HashData(bytes),
            };
        }
    }

    /// <summary>A chunk of a current payload; Index -1 when that payload has been replaced (fetch again).</summary>
    public Chunk WeightsChunk(string session, string id, int index)
    {
        lock (gate)
        {
            if (!Touch(session)) throw new InvalidOperationException("unknown session: join again");
            if (!payloads.TryGetValue(id, out var bytes)) return new Chunk { Index = -1 };
            var c = Chunks.Slice(bytes, index, settings.ChunkBytes);
            var name = sessions[session].Name;
            Accounts[name].BytesSent += c.Data.Length;
            Add(name, down: c.Data.Length);
            return c;
        }
    }

    public bool Upload(string session, int forRound, Chunk chunk)
    {
        lock (gate)
        {
            if (!Touch(session)) throw new InvalidOperationException("unknown session: join again");
            var s = sessions[session];
            Accounts[s.Name].BytesReceived += chunk.Data.Length;
            Add(s.Name, up: chunk.Data.Length);
            if (!Chunks.Verify(chunk)) { Rejected.Checksum++; Accounts[s.Name].Rejected++; return false; }
            if (s.UploadRound != forRound) { s.Chunks.Clear(); s.UploadRound = forRound; }
            s.Chunks[chunk.Index] = chunk;
            return true;
        }
    }

    public CommitReply Commit(string session, UpdateSummary u)
    {
        lock (gate)
        {
            if (!Touch(session)) return new CommitReply { Reason = "unknown session: join again" };
            var s = sessions[session];
            var account = Accounts[s.Name];
            var chunks = s.Chunks.Values.ToList();
            s.Chunks.Clear();
            if (!open || u.Round != round || !participants.Contains(session) || u.BaseVersion != version)
            {
                Rejected.Stale++; account.Stale++;
                Log?.Invoke($"dropped a late update from {s.Name} (round {u.Round + 1}; round {round + 1} {(open ? "open" : "closed")})");
                return new CommitReply { Reason = $"late: round {u.Round + 1} is closed; late updates are dropped" };
            }
            var reason = Check(u, chunks, out var delta);
            if (reason is not null)
            {
                account.Rejected++;
                Log?.Invoke($"rejected the update of {s.Name}: {reason}");
                return new CommitReply { Reason = reason };
            }
            submitted[session] = (s.Name, delta!, u.Tokens);
            account.Tokens += u.Tokens; account.InnerSteps += u.InnerSteps; account.Seconds += u.Seconds; account.Accepted++;
            var (up, down, _, _, _, _) = roundBytes.GetValueOrDefault(s.Name);
            roundBytes[s.Name] = (up, down, u.Tokens, u.InnerSteps, u.Seconds, u.Loss);
            return new CommitReply { Accepted = true };
        }
    }

    string? Check(UpdateSummary u, List<Chunk> chunks, out float[]? delta)
    {
        delta = null;
        if (!Codecs.IsKnown(u.Codec) || u.Codec != settings.Compress) { Rejected.Shape++; return $"codec '{u.Codec}', expected '{settings.Compress}'"; }
        if (u.Length != Codecs.EncodedLength(u.Codec, Length) || u.Chunks != Chunks.Count(u.Length, settings.ChunkBytes))
        { Rejected.Shape++; return $"shape: {u.Length} bytes in {u.Chunks} chunks, expected {Codecs.EncodedLength(u.Codec, Length)} bytes for {Length} values"; }
        var asm = new ChunkAssembler(u.Chunks, u.Length);
        foreach (var c in chunks) asm.Add(c);
        var (payload, problem) = asm.Assemble(u.Sha256);
        if (payload is null) { Rejected.Checksum++; return problem; }
        var d = new float[Length];
        if (Codecs.TryDecode(u.Codec, payload, d) is { } bad) { Rejected.NonFinite++; return bad; }
        foreach (var v in d)
            if (!float.IsFinite(v)) { Rejected.NonFinite++; return "the pseudo-gradient holds NaN or Inf"; }
        if (u.Tokens <= 0 || u.InnerSteps <= 0) { Rejected.Shape++; return "tokens and inner steps must be positive"; }
        delta = d;
        return null;
    }

    bool Touch(string session)
    {
        if (!sessions.TryGetValue(session, out var s)) return false;
        s.LastSeen = Now;
        return true;
    }

    void Drop(string session)
    {
        sessions.Remove(session);
        participants.Remove(session);
    }

    void Add(string name, long up = 0, long down = 0)
    {
        var r = roundBytes.GetValueOrDefault(name);
        roundBytes[name] = (r.Up + up, r.Down + down, r.Tokens, r.Steps, r.Seconds, r.Loss);
    }

    void ExpireLeases()
    {
        foreach (var (id, s) in sessions.Where(kv => Now - kv.Value.LastSeen > settings.LeaseSeconds).ToList())
        {
            Drop(id);
            Rejected.LeasesExpired++;
            Log?.Invoke($"lease expired: {s.Name} (silent for {settings.LeaseSeconds:G3} s)");
        }
    }

    /// <summary>Workers with a live lease.</summary>
    public int LiveWorkers { get { lock (gate) { ExpireLeases(); return sessions.Count; } } }

    /// <summary>Makes new weights current: the full payload, and the change from the previous version when there is one.</summary>
    public void Publish(long newVersion, byte[] full, byte[]? delta)
    {
        lock (gate)
        {
            payloads.Clear();
            fullId = $"{runId}:{newVersion}:full";
            payloads[fullId] = full;
            deltaId = delta is null ? "" : $"{runId}:{newVersion}:delta";
            if (delta is not null) payloads[deltaId] = delta;
            version = payloadVersion = newVersion;
        }
    }

    public void Open(int r)
    {
        lock (gate)
        {
            ExpireLeases();
            round = r;
            open = true;
            submitted.Clear();
            participants = [.. sessions.Keys];
            deadline = Now + settings.RoundTimeoutSeconds;
            foreach (var s in sessions.Values) Accounts[s.Name].RoundsSeen++;
        }
    }

    /// <summary>True when the open round may close now (see the note at the top); extends an under-filled round at its deadline.</summary>
    public bool ReadyToClose()
    {
        lock (gate)
        {
            ExpireLeases();
            int got = submitted.Count;
            if (got >= Math.Max(1, settings.MinWorkers) && participants.All(submitted.ContainsKey)) return true;
            if (Now < deadline) return false;
            if (got >= Math.Max(1, settings.MinWorkers)) return true;
            deadline = Now + settings.RoundTimeoutSeconds;
            foreach (var id in sessions.Keys.Where(participants.Add).ToList()) Accounts[sessions[id].Name].RoundsSeen++;
            Log?.Invoke($"round {round + 1}: {got} of --min-workers {settings.MinWorkers} updates by the deadline; extended by {settings.RoundTimeoutSeconds:G3} s, {participants.Count} worker(s) in it");
            return false;
        }
    }

    public RoundUpdates Close()
    {
        lock (gate)
        {
            open = false;
            var updates = submitted.Values.Select(v => (v.Name, v.Delta, v.Tokens)).ToList();
            submitted.Clear();
            var bytes = new Dictionary<string, (long, long, long, int, double, double)>(roundBytes);
            roundBytes.Clear();   // bytes from here (the next weights' download) count toward the next round
            return new RoundUpdates(round, updates, bytes);
        }
    }

    public void Finish() { lock (gate) finished = true; }

    /// <summary>After <see cref="Finish"/>: every worker still holding a lease has been told (a slow one may be mid-round).</summary>
    public bool AllToldFinished { get { lock (gate) { ExpireLeases(); return sessions.Keys.All(toldFinished.Contains); } } }
}
