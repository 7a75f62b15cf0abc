using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Hosting;
using SeekSharp.Checkpoints;
using SeekSharp.Data;
using SeekSharp.IO;
using SeekSharp.Ledger;
using SeekSharp.Modeling;
using SeekSharp.Tokenization;
using SeekSharp.Training;
using static TorchSharp.torch;

namespace SeekSharp.Distributed;

// `seek hub`: the silo and the outer loop. Per round: wait for --min-workers live workers, open the round, wait until
// it may close (Coordinator), average the updates by tokens, take the outer Nesterov step, evaluate on the hub's
// validation split, write the checkpoint, then publish the new weights. With int8 the change of the weights is itself
// sent as int8 with error feedback (the hub keeps the residual), and the hub's weights ARE the old ones plus the
// decoded change, so a worker that applies the same payload holds the same weights to the bit and fetches a quarter
// of the bytes; a worker that missed a version fetches the full fp32 weights.

/// <summary>What `seek hub` runs.</summary>
public sealed record HubOptions
{
    public required string DataDir { get; init; }
    public required string RunDir { get; init; }
    /// <summary>The architecture (a preset) when <see cref="ModelDir"/> is null.</summary>
    public ModelConfig? Model { get; init; }
    /// <summary>A model folder whose weights start the run.</summary>
    public string? ModelDir { get; init; }
    /// <summary>The workers' inner AdamW (steps = inner x outer; batch, lr, warmup, precision, seed).</summary>
    public TrainConfig Inner { get; init; } = new();
    public int InnerSteps { get; init; } = 50;
    public int OuterSteps { get; init; } = 10;
    public double OuterLr { get; init; } = 0.7;
    public double OuterMomentum { get; init; } = 0.9;
    public string Compress { get; init; } = Codecs.None;
    public int MinWorkers { get; init; } = 1;
    /// <summary>Workers that must have joined before this process opens its first round (0: <see cref="MinWorkers"/>),
    /// so a run that tolerates losing workers still starts with all of them.</summary>
    public int StartWorkers { get; init; }
    public double RoundTimeoutSeconds { get; init; } = 600;
    public double LeaseSeconds { get; init; } = 15;
    public string Host { get; init; } = "127.0.0.1";
    public int Port { get; init; } = 30000;
    public string? Cluster { get; init; }
    public bool Resume { get; init; }
    public int EvalBatches { get; init; } = 8;
    public string? HardwareProfilePath { get; init; }
}

public sealed record HubResult(string RunDir, int Rounds, double? FinalValLoss, long BytesSent, long BytesReceived, double Seconds, LedgerEntry Ledger);

public static class Hub
{
    public const int EvalBatchSize = 8;

    public static HubResult Run(HubOptions o, Action<string> say, CancellationToken cancel = default)
    {
        Validate(o);
        if (!IPAddress.TryParse(o.Host, out var address)) throw new SeekSharpException($"--host: expected an IP address, got '{o.Host}'.");
        using var ds = TokenDataset.Open(o.DataDir);
        using var model = o.ModelDir is not null ? ModelFiles.Load(o.ModelDir) : new Transformer(FitVocab(o.Model!, ds).Validate(), o.Inner.Seed);
        if (model.Config.VocabSize != ds.VocabSize)
            throw new SeekSharpException($"--model: vocab_size {model.Config.VocabSize} differs from the data's {ds.VocabSize}.");
        model.SetComputeType(Transformer.ComputeTypeOf(o.Inner.Precision));
        model.eval();
        int seqLen = o.Inner.SeqLen == 0 ? model.Config.MaxPositionEmbeddings : o.Inner.SeqLen;
        if (seqLen > model.Config.MaxPositionEmbeddings) throw new SeekSharpException($"--seq-len: {seqLen} exceeds the model's context {model.Config.MaxPositionEmbeddings}.");
        if (ds.ValTokens <= (long)EvalBatchSize * seqLen + 1) throw new SeekSharpException($"{o.DataDir}: the validation split ({ds.ValTokens} tokens) is too small for one batch of {EvalBatchSize}x{seqLen}.");

        var latest = HubCheckpoint.Latest(o.RunDir);
        if (!o.Resume && latest is not null) throw new SeekSharpException($"{o.RunDir}: already holds {Path.GetFileName(latest)}; pass --resume to continue it or choose another --out.");
        if (o.Resume && latest is null) throw new SeekSharpException($"{o.RunDir}: --resume given but no round checkpoint under {Path.Combine(o.RunDir, "checkpoints")}.");

        string? token = null;
        HubState? resumed = null;
        float[] momentum, residual;
        if (latest is not null)
        {
            (resumed, momentum, var r) = HubCheckpoint.Load(latest, model);
            CheckResumable(resumed, o, latest);
            residual = r ?? new float[momentum.Length];
        }
        else
        {
            token = Convert.ToHexString(RandomNumberGenerator.GetBytes(16)).ToLowerInvariant();
            momentum = residual = [];
        }
        var weights = WeightVector.Read(model);
        if (latest is null) { momentum = new float[weights.Length]; residual = new float[weights.Length]; }
        if (momentum.Length != weights.Length) throw new SeekSharpException($"{latest}: outer momentum has {momentum.Length} values, the model {weights.Length}.");

        var inner = o.Inner with { Steps = o.InnerSteps * o.OuterSteps, EvalEvery = 0, CheckpointEvery = 0 };
        var settings = (resumed?.Settings ?? new HubSettings
        {
            TokenSha256 = Coordinator.HashToken(token!), TokenizerHash = ds.TokenizerHash, VocabSize = ds.VocabSize,
            ModelConfigJson = model.Config.ToJson(), TrainConfigJson = JsonSerializer.Serialize(inner, TrainConfig.Json), SeqLen = seqLen,
            InnerSteps = o.InnerSteps, Compress = o.Compress,
        }) with
        {
            OuterSteps = o.OuterSteps, MinWorkers = o.MinWorkers, RoundTimeoutSeconds = o.RoundTimeoutSeconds, LeaseSeconds = o.LeaseSeconds,
            TrainConfigJson = JsonSerializer.Serialize(inner, TrainConfig.Json),
        };
        var runId = resumed?.RunId ?? Guid.NewGuid().ToString("N");
        int round = resumed?.Round ?? 0;
        var coordinator = new Coordinator(settings, runId, round)
        {
            Length = weights.Length, Accounts = resumed?.Workers ?? [], Rejected = resumed?.Rejected ?? new Rejections(),
            TokenizerFiles = BpeTokenizer.FileNames.Where(f => File.Exists(Path.Combine(o.DataDir, f)))
                .ToDictionary(f => f, f => File.ReadAllBytes(Path.Combine(o.DataDir, f))),
        };
        coordinator.Log += say;
        coordinator.Publish(round, Codecs.Encode(Codecs.None, weights), null);
        var outer = new OuterStep(weights.Length, o.OuterLr, o.OuterMomentum);
        momentum.CopyTo(outer.Momentum, 0);
        var feedback = new ErrorFeedback(weights.Length);
        residual.CopyTo(feedback.Residual, 0);

        Directory.CreateDirectory(o.RunDir);
        AtomicFile.WriteAllText(Path.Combine(o.RunDir, ModelFiles.ConfigFile), model.Config.ToJson());
        BpeTokenizer.CopyFiles(o.DataDir, o.RunDir);
        using var metrics = StepLoop.OpenMetrics(o.RunDir, round);
        using var ledger = RunLedger.Continue("diloco-hub", HardwareProfile.Resolve(o.HardwareProfilePath), resumed?.Ledger, o.RunDir);
        ledger.RecordData(o.DataDir);                     // the hub's validation data; the workers' own data never reaches it
        var bytesByRound = resumed?.BytesByRound ?? [];
        var val = new TokenBatchSampler(ds.Val);
        double? lastVal = resumed?.LastValLoss;
        var clock = Stopwatch.StartNew();
        double elapsedBefore = resumed?.ElapsedSeconds ?? 0;

        Cluster.CheckPortsFree(o.Cluster is null ? address : IPAddress.Any, o.Port);
        using var host = Cluster.BuildSilo(address, o.Port, o.Cluster, coordinator);
        host.StartAsync(cancel).GetAwaiter().GetResult();
        say($"hub listening on {o.Host}:{o.Port} ({(o.Cluster is null ? "localhost clustering" : "membership in " + o.Cluster)}); run {runId}");
        say(token is not null ? $"join token: {token}" : "join token: unchanged (the run's token; only its hash is stored)");
        if (resumed is not null) say($"resumed from {Path.GetFileName(latest)} (round {round} of {o.OuterSteps})");
        try
        {
            set_num_threads(1);
            bool waitingSaid = false, started = false;
            while (round < o.OuterSteps)
            {
                cancel.ThrowIfCancellationRequested();
                int need = Math.Max(1, started ? o.MinWorkers : Math.Max(o.MinWorkers, o.StartWorkers));
                if (coordinator.LiveWorkers < need)
                {
                    if (!waitingSaid) say($"waiting for {need} worker(s) to join");
                    waitingSaid = true;
                    Thread.Sleep(100);
                    continue;
                }
                waitingSaid = false;
                started = true;
                var t0 = clock.Elapsed.TotalSeconds;
                coordinator.Open(round);
                while (!coordinator.ReadyToClose()) { cancel.ThrowIfCancellationRequested(); Thread.Sleep(50); }
                var closed = coordinator.Close();
                var avg = OuterStep.Average(closed.Updates.Select(u => (u.Delta, u.Tokens)).ToList());
                var change = outer.Change(avg);
                byte[]? deltaPayload = null;
                if (settings.Compress == Codecs.Int8) (deltaPayload, change) = feedback.Encode(Codecs.Int8, change);
                for (int i = 0; i < weights.Length; i++) weights[i] += change[i];
                WeightVector.Write(model, weights);
                double valLoss = Perplexity.Measure(model, val, EvalBatchSize, seqLen, o.EvalBatches, new Device("cpu")).Loss;
                lastVal = valLoss;
                long tokens = closed.Updates.Sum(u => u.Tokens);
                ledger.AddTokens(tokens);
                ledger.AddFlops(ModelCost.Of(model.Config, seqLen).PretrainingFlopsPerToken * tokens);
                bytesByRound.Add(closed.PerWorker.ToDictionary(kv => kv.Key, kv => new[] { kv.Value.Up, kv.Value.Down }));
                round++;
                var state = new HubState
                {
                    RunId = runId, Round = round, Settings = settings, OuterLr = o.OuterLr, OuterMomentum = o.OuterMomentum,
                    Workers = coordinator.Accounts, Rejected = coordinator.Rejected, LastValLoss = valLoss,
                    ElapsedSeconds = elapsedBefore + clock.Elapsed.TotalSeconds, BytesByRound = bytesByRound, Ledger = ledger.Snapshot(),
                };
                var saved = HubCheckpoint.Save(o.RunDir, model, o.DataDir, outer.Momentum, settings.Compress == Codecs.Int8 ? feedback.Residual : null, state);
                ledger.RecordStorage(saved, StorageKind.Checkpoint);
                coordinator.Publish(round, Codecs.Encode(Codecs.None, weights), deltaPayload);
                metrics.Append(Record(round, o.OuterSteps, closed, valLoss, clock.Elapsed.TotalSeconds - t0, state));
                say(Line(round, o.OuterSteps, closed, valLoss, clock.Elapsed.TotalSeconds - t0));
            }
            coordinator.Finish();
            ModelFiles.Save(o.RunDir, model, tokenizerFrom: o.DataDir);
            ledger.RecordModelFolder(o.RunDir);
            // Stay up until every live worker has polled and seen "finished" (a slow one may be mid-round), or its lease ran out.
            var until = DateTime.UtcNow.AddSeconds(o.LeaseSeconds + 5);
            while (!coordinator.AllToldFinished && DateTime.UtcNow < until) Thread.Sleep(100);
            Thread.Sleep(300);   // the last replies leave before the silo stops
        }
        finally { host.StopAsync(TimeSpan.FromSeconds(5)).GetAwaiter().GetResult(); }

        long sent = coordinator.Accounts.Values.Sum(a => a.BytesSent), received = coordinator.Accounts.Values.Sum(a => a.BytesReceived);
        var network = new LedgerNetwork
        {
            BytesSent = sent, BytesReceived = received, Rounds = round,
            Peers = coordinator.Accounts.ToDictionary(kv => kv.Key, kv => new LedgerNetworkPeer
            {
                BytesSent = kv.Value.BytesSent, BytesReceived = kv.Value.BytesReceived, Rounds = kv.Value.Accepted,
                Tokens = kv.Value.Tokens, InnerSteps = kv.Value.InnerSteps, Seconds = kv.Value.Seconds,
            }),
        };
        var entry = ledger.Finish() with { Network = network };
        entry.Write(Path.Combine(o.RunDir, "ledger.json"));
        return new HubResult(o.RunDir, round, lastVal, sent, received, elapsedBefore + clock.Elapsed.TotalSeconds, entry);
    }

    static ModelConfig FitVocab(ModelConfig cfg, TokenDataset ds) => cfg.VocabSize == ds.VocabSize ? cfg : cfg with { VocabSize = ds.VocabSize };

    static void Validate(HubOptions o)
    {
        o.Inner.Validate("inner optimizer");
        void Need(bool ok, string flag, string expected) { if (!ok) throw new SeekSharpException($"{flag}: expected {expected}."); }
        Need(o.Model is not null || o.ModelDir is not null, "--preset/--model", "one of them");
        Need(o.InnerSteps > 0, "--inner-steps", "a positive integer");
        Need(o.OuterSteps > 0, "--outer-steps", "a positive integer");
        Need(o.OuterLr > 0 && o.OuterLr <= 10, "--outer-lr", "a number in (0, 10]");
        Need(o.OuterMomentum is >= 0 and < 1, "--outer-momentum", "a number in [0, 1)");
        Need(Codecs.IsKnown(o.Compress), "--compress", "none or int8");
        Need(o.MinWorkers >= 1, "--min-workers", "1 or more");
        Need(o.StartWorkers >= 0, "--start-workers", "0 (= --min-workers) or more");
        Need(o.RoundTimeoutSeconds > 0, "--round-timeout", "a positive number of seconds");
        Need(o.LeaseSeconds > 0, "--lease", "a positive number of seconds");
        Need(o.Port is > 0 and < 65535, "--port", "a TCP port (1-65534; the silo takes PORT + 1)");
        Need(o.EvalBatches > 0, "--eval-batches", "a positive integer");
    }

    static void CheckResumable(HubState s, HubOptions o, string folder)
    {
        if (s.Settings.InnerSteps != o.InnerSteps) throw new SeekSharpException($"--inner-steps: {o.InnerSteps}, but {folder} was trained with {s.Settings.InnerSteps}; pass the same.");
        if (s.Settings.Compress != o.Compress) throw new SeekSharpException($"--compress: {o.Compress}, but {folder} was trained with {s.Settings.Compress}; pass the same.");
        if (s.Round >= o.OuterSteps) throw new SeekSharpException($"--outer-steps: the run already did {s.Round} rounds; pass more than {s.Round} to continue it.");
    }

    static JsonObject Record(int round, int rounds, RoundUpdates closed, double valLoss, double seconds, HubState state)
    {
        var per = new JsonObject();
        foreach (var (name, w) in closed.PerWorker)
            per[name] = new JsonObject
            {
                ["bytes_up"] = w.Up, ["bytes_down"] = w.Down, ["tokens"] = w.Tokens, ["inner_steps"] = w.Steps,
                ["seconds"] = Math.Round(w.Seconds, 3), ["loss"] = double.IsFinite(w.Loss) ? w.Loss : null,
                ["contributed"] = closed.Updates.Any(u => u.Name == name),
            };
        return new JsonObject
        {
            ["step"] = round, ["rounds"] = rounds, ["workers"] = closed.Updates.Count, ["tokens"] = closed.Updates.Sum(u => u.Tokens),
            ["val_loss"] = valLoss, ["seconds"] = Math.Round(seconds, 3), ["elapsed_seconds"] = Math.Round(state.ElapsedSeconds, 3),
            ["bytes_up"] = closed.PerWorker.Values.Sum(w => w.Up), ["bytes_down"] = closed.PerWorker.Values.Sum(w => w.Down),
            ["rejected_checksum"] = state.Rejected.Checksum, ["rejected_shape"] = state.Rejected.Shape, ["rejected_nonfinite"] = state.Rejected.NonFinite,
            ["stale_dropped"] = state.Rejected.Stale, ["leases_expired"] = state.Rejected.LeasesExpired, ["per_worker"] = per,
        };
    }

    static string Line(int round, int rounds, RoundUpdates closed, double valLoss, double seconds)
    {
        int filled = (int)Math.Round(20.0 * round / rounds);
        return $"round {round}/{rounds} [{new string('#', filled)}{new string('.', 20 - filled)}] val loss {valLoss:F4}, {closed.Updates.Count} update(s) " +
               $"({string.Join(", ", closed.Updates.Select(u => u.Name))}), {closed.PerWorker.Values.Sum(w => w.Up):N0} B up, " +
               $"{closed.PerWorker.Values.Sum(w => w.Down):N0} B down, {seconds:F1} s";
    }
}
