using System.Diagnostics;
using System.Threading.Channels;
using SeekSharp.Inference;
using SeekSharp.Modeling;
using static TorchSharp.torch;

namespace SeekSharp.Serving;

// Continuous batching on one model. A single decode thread owns the model and a slot cache of
// MaxBatchSize rows × context positions; row b of the cache belongs to running sequence b, so the
// running batch is always rows [0, n) and a decode step reads the cache without gathering. Between
// steps the thread drops cancelled sequences, admits queued requests (restore the longest cached prompt
// prefix, prefill the rest into the next free row, sample the first token), then runs ONE forward over
// all running sequences, input (n, 1), each row at its own position. A finished row is refilled by
// moving the last row into it (one copy of that row's filled positions), keeping rows contiguous.
// Sampling happens on the host with each request's own seeded System.Random, so what a request draws
// does not depend on what else is in the batch. See docs/decisions/0007-serving-engine.md.

/// <summary>The continuous-batching decoder behind the HTTP server.</summary>
public sealed class GenerationEngine : IGenerationEngine
{
    readonly Transformer model;
    readonly EngineOptions options;
    readonly Device device;
    readonly KvCache slots;
    readonly KvCache?[] batchViews, rowViews; // rows [0, n) and row r of `slots`, made on first use
    readonly PrefixCache prefix;
    readonly float[] logits;                  // host copy of one step's (n, V) logits
    readonly object gate = new();             // guards queue and stopping
    readonly Queue<Sequence> queue = new();
    readonly List<Sequence> running = [];     // running[b] owns cache row b; decode thread only
    readonly Thread thread;
    readonly bool wasFrozen;
    bool stopping;
    int runningCount;
    long promptTokens, cachedPromptTokens, completionTokens, decodeSteps, decodeRows, decodeTicks, prefillTicks;

    /// <summary>Starts the decode thread. Set the model's compute type first: the cache is allocated in it. The
    /// model is frozen for inference (<see cref="Transformer.Freeze"/>) until the engine is disposed: it must not
    /// be trained or changed meanwhile, and only this engine may run it.</summary>
    public GenerationEngine(Transformer model, EngineOptions? options = null)
    {
        this.model = model;
        wasFrozen = model.Frozen;
        model.Freeze();
        this.options = (options ?? new EngineOptions()).Validate();
        var cfg = model.Config;
        device = model.parameters().First().device;
        int batch = this.options.MaxBatchSize;
        slots = new KvCache(cfg, batch, cfg.MaxPositionEmbeddings, model.ComputeType, device);
        batchViews = new KvCache?[batch + 1];
        rowViews = new KvCache?[batch];
        prefix = new PrefixCache(this.options.PrefixBlockSize, this.options.PrefixCacheBytes,
            KvCache.BytesPerToken(cfg, (int)slots.Layers[0].A.ElementSize));
        logits = new float[batch * cfg.VocabSize];
        thread = new Thread(Loop) { IsBackground = true, Name = "seek-decode" };
        thread.Start();
    }

    public ModelConfig Config => model.Config;

    public GenerationHandle Submit(GenerationRequest request, CancellationToken cancellationToken = default)
    {
        Validate(request);
        var seq = new Sequence(request, Math.Min(request.MaxTokens, Config.MaxPositionEmbeddings - request.Prompt.Count));
        // The callback only sets a flag: the decode thread sees it before its next step.
        if (cancellationToken.CanBeCanceled) seq.Registration = cancellationToken.Register(seq.Cancel);
        lock (gate)
        {
            if (stopping)
            {
                seq.Registration.Unregister();
                throw new ObjectDisposedException(nameof(GenerationEngine));
            }
            queue.Enqueue(seq);
            Monitor.Pulse(gate);
        }
        return seq.Handle;
    }

    void Validate(GenerationRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var cfg = Config;
        if (request.Prompt is null || request.Prompt.Count == 0) throw new SeekSharpException("prompt: expected at least one token.");
        for (int i = 0; i < request.Prompt.Count; i++)
            if ((uint)request.Prompt[i] >= (uint)cfg.VocabSize)
                throw new SeekSharpException($"prompt: token {i} is id {request.Prompt[i]}, outside the vocabulary (0..{cfg.VocabSize - 1}).");
        if (request.Prompt.Count >= cfg.MaxPositionEmbeddings)
            throw new SeekSharpException($"prompt: {request.Prompt.Count} tokens do not fit the context of {cfg.MaxPositionEmbeddings} with room to generate.");
        if (request.MaxTokens < 1) throw new SeekSharpException($"max_tokens: expected 1 or more, got {request.MaxTokens}.");
        if (request.Sampling is null) throw new SeekSharpException("sampling: expected sampling options.");
        request.Sampling.Validate();
    }

    public EngineStats Stats()
    {
        int queued;
        lock (gate) queued = queue.Count;
        return new EngineStats(Volatile.Read(ref runningCount), queued, prefix.Bytes, prefix.Entries,
            Interlocked.Read(ref promptTokens), Interlocked.Read(ref cachedPromptTokens), Interlocked.Read(ref completionTokens),
            Interlocked.Read(ref decodeSteps), Interlocked.Read(ref decodeRows))
        {
            DecodeSeconds = Interlocked.Read(ref decodeTicks) / (double)Stopwatch.Frequency,
            PrefillSeconds = Interlocked.Read(ref prefillTicks) / (double)Stopwatch.Frequency,
        };
    }

    void Loop()
    {
        using var noGrad = no_grad(); // grad mode is per thread: this one only ever infers
        while (true)
        {
            lock (gate)
            {
                while (!stopping && running.Count == 0 && queue.Count == 0) Monitor.Wait(gate);
                if (stopping) break;
            }
            DropCancelled();
            Admit();
            if (running.Count > 0) Step();
        }
        var error = new SeekSharpException("the generation engine stopped before this request finished.");
        foreach (var seq in running) seq.Fail(error);
        running.Clear();
        lock (gate)
            while (queue.TryDequeue(out var seq)) seq.Fail(error);
        Volatile.Write(ref runningCount, 0);
    }

    void DropCancelled()
    {
        for (int b = running.Count - 1; b >= 0; b--)
            if (running[b].Cancelled) Retire(b, FinishReason.Cancelled);
        List<Sequence>? dropped = null;
        lock (gate)
        {
            if (queue.Any(s => s.Cancelled))
            {
                dropped = queue.Where(s => s.Cancelled).ToList();
                var keep = queue.Where(s => !s.Cancelled).ToList();
                queue.Clear();
                foreach (var s in keep) queue.Enqueue(s);
            }
        }
        foreach (var s in dropped ?? []) s.Finish(FinishReason.Cancelled);
    }

    /// <summary>Prefills queued requests into free rows; each then samples its first token.</summary>
    void Admit()
    {
        while (running.Count < options.MaxBatchSize)
        {
            Sequence? seq;
            lock (gate)
                if (!queue.TryDequeue(out seq)) return;
            if (seq.Cancelled) { seq.Finish(FinishReason.Cancelled); continue; }
            int row = running.Count;
            try { Prefill(seq, row); }
            catch (Exception e) { seq.Fail(e); continue; }
            running.Add(seq);
            Volatile.Write(ref runningCount, running.Count);
            if (!Advance(seq, logits.AsSpan(0, Config.VocabSize), out var reason)) Retire(row, reason);
        }
    }

    void Prefill(Sequence seq, int row)
    {
        long t0 = Stopwatch.GetTimestamp();
        var prompt = seq.Request.Prompt;
        // At least one prompt token is computed: its logits give the first generated token.
        int cached = prefix.Restore(prompt, prompt.Count - 1, slots, row);
        using (var scope = NewDisposeScope())
        {
            var rest = new long[prompt.Count - cached];
            for (int i = 0; i < rest.Length; i++) rest[i] = prompt[cached + i];
            var ids = tensor(rest, [1, rest.Length], device: device);
            var last = model.ForwardLast(ids, cached, rowViews[row] ??= slots.Slice(row, 1)); // (1, V)
            CopyLogits(last);
        }
        seq.CacheLength = prompt.Count;
        seq.CachedPromptTokens = cached;
        prefix.Store(prompt, prompt.Count, slots, row);
        Interlocked.Add(ref promptTokens, prompt.Count);
        Interlocked.Add(ref cachedPromptTokens, cached);
        Interlocked.Add(ref prefillTicks, Stopwatch.GetTimestamp() - t0);
    }

    /// <summary>One batched forward over every running sequence, each fed its last token at its own position.</summary>
    void Step()
    {
        int n = running.Count, vocab = Config.VocabSize;
        long t0 = Stopwatch.GetTimestamp();
        try
        {
            var last = new long[n];
            var starts = new int[n];
            for (int b = 0; b < n; b++) { last[b] = running[b].Tokens[^1]; starts[b] = running[b].CacheLength; }
            using var scope = NewDisposeScope();
            using var rows = new RowPositions(starts, 1, device);
            var ids = tensor(last, [n, 1], device: device);
            CopyLogits(model.ForwardLast(ids, new Positions(0, rows), batchViews[n] ??= slots.Slice(0, n)));
        }
        catch (Exception e)
        {
            // A failed step leaves the cache rows undefined: every running request ends with the error.
            foreach (var seq in running) seq.Fail(e);
            running.Clear();
            Volatile.Write(ref runningCount, 0);
            return;
        }
        Interlocked.Increment(ref decodeSteps);
        Interlocked.Add(ref decodeRows, n);
        // Backwards, so that moving the last row into a retired one only moves rows already advanced.
        for (int b = n - 1; b >= 0; b--)
        {
            var seq = running[b];
            seq.CacheLength++;
            if (!Advance(seq, logits.AsSpan(b * vocab, vocab), out var reason)) Retire(b, reason);
        }
        Interlocked.Add(ref decodeTicks, Stopwatch.GetTimestamp() - t0);
    }

    void CopyLogits(Tensor rows)
    {
        using var host = rows.to_type(ScalarType.Float32).cpu().contiguous();
        host.data<float>().CopyTo(logits);
    }

    /// <summary>Samples the next token; false when the sequence is done (and why).</summary>
    bool Advance(Sequence seq, ReadOnlySpan<float> row, out FinishReason reason)
    {
        reason = FinishReason.Cancelled;
        if (seq.Cancelled) return false;
        int next = Sampler.Sample(row, seq.Request.Sampling, seq.Rng);
        if (seq.Request.StopIds is { } stop && stop.Contains(next)) { reason = FinishReason.Stop; return false; }
        seq.Emit(next);
        Interlocked.Increment(ref completionTokens);
        if (seq.Generated >= seq.Budget) { reason = FinishReason.Length; return false; }
        return true;
    }

    /// <summary>Ends the sequence in row <paramref name="b"/>, keeps its blocks for prefix reuse, and moves the
    /// last row into its place.</summary>
    void Retire(int b, FinishReason reason)
    {
        var seq = running[b];
        // Generated tokens are cached too: the next turn of a chat repeats this one's prompt and reply.
        try { prefix.Store(seq.Tokens, seq.CacheLength, slots, b); }
        catch (Exception e) { seq.Fail(e); }
        seq.Finish(reason);
        int last = running.Count - 1;
        if (b != last)
        {
            slots.CopyRow(last, b, running[last].CacheLength);
            running[b] = running[last];
        }
        running.RemoveAt(last);
        Volatile.Write(ref runningCount, running.Count);
    }

    public void Dispose()
    {
        lock (gate)
        {
            if (stopping) return;
            stopping = true;
            Monitor.PulseAll(gate);
        }
        thread.Join();
        foreach (var v in batchViews) v?.Dispose();
        foreach (var v in rowViews) v?.Dispose();
        slots.Dispose();
        prefix.Dispose();
        if (!wasFrozen) model.Unfreeze();
    }

    /// <summary>One request's state on its way through the engine.</summary>
    sealed class Sequence
    {
        readonly Channel<int> channel = Channel.CreateUnbounded<int>(new UnboundedChannelOptions { SingleWriter = true });
        readonly TaskCompletionSource<GenerationUsage> done = new(TaskCreationOptions.RunContinuationsAsynchronously);
        volatile bool cancelled;

        public Sequence(GenerationRequest request, int budget)
        {
            Request = request;
            Budget = budget;
            Rng = new Random(request.Seed);
            Tokens = new List<int>(request.Prompt.Count + budget);
            Tokens.AddRange(request.Prompt);
            Handle = new GenerationHandle(channel.Reader, done.Task);
        }

        public GenerationRequest Request { get; }
        public GenerationHandle Handle { get; }
        public Random Rng { get; }
        /// <summary>Most tokens it may generate: MaxTokens, or less where the context ends.</summary>
        public int Budget { get; }
        /// <summary>Prompt and generated tokens so far.</summary>
        public List<int> Tokens { get; }
        /// <summary>Positions whose keys and values are in the cache (all tokens but the last sampled one).</summary>
        public int CacheLength { get; set; }
        public int CachedPromptTokens { get; set; }
        public int Generated { get; private set; }
        public CancellationTokenRegistration Registration { get; set; }
        public bool Cancelled => cancelled;

        public void Cancel() => cancelled = true;

        public void Emit(int token)
        {
            Tokens.Add(token);
            Generated++;
            channel.Writer.TryWrite(token);
        }

        public void Finish(FinishReason reason)
        {
            Registration.Unregister(); // not Dispose: that would wait for a callback running on another thread
            channel.Writer.TryComplete();
            done.TrySetResult(new GenerationUsage(Request.Prompt.Count, CachedPromptTokens, Generated, reason));
        }

        public void Fail(Exception error)
        {
            Registration.Unregister();
            channel.Writer.TryComplete(error);
            done.TrySetException(error);
        }
    }
}
