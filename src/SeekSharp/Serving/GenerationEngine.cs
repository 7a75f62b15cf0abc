using System.Diagnostics;
using System.Threading.Channels;
using SeekSharp.Inference;
using SeekSharp.Kernels;
using SeekSharp.Modeling;
using static TorchSharp.torch;

namespace SeekSharp.Serving;

// Continuous batching on one model. A single decode thread owns the model and a slot cache of
// MaxBatchSize rows × context positions; row b of the cache belongs to running sequence b, so the
// running batch is always rows [0, n) and a decode step reads the cache without gathering. Between
// steps the thread drops cancelled sequences, admits queued requests into the next free rows (restore
// the longest cached prompt prefix, prefill the rest — each prompt alone, or with GroupPrefill in padded groups —
// and sample the first token), then runs ONE forward over all running sequences, input (n, 1), each
// row at its own position. A finished row is refilled by
// moving the last row into it (one copy of that row's filled positions), keeping rows contiguous.
// Sampling happens on the host with each request's own seeded System.Random, so what a request draws
// does not depend on what else is in the batch; prefilling each prompt alone keeps the logits it draws from
// independent of it too, in bf16 as well (docs/decisions/0011). See docs/decisions/0007-serving-engine.md.
// The decode thread never dies of a request: logits a row cannot be sampled from (NaN/Inf, from corrupt
// weights) end that request with the error and free its row while the others decode on; a forward that
// fails ends the requests it was computing; anything else that escapes a step fails every running request
// (their cache rows are then of unknown state) and the thread goes on with the queue.

/// <summary>The continuous-batching decoder behind the HTTP server.</summary>
public sealed partial class GenerationEngine : IGenerationEngine
{
    readonly Transformer model;
    readonly EngineOptions options;
    readonly Device device;
    readonly KvCache slots;
    readonly long kvBytesPerToken;
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
        speculative = this.options.Speculative && model.MtpDepth > 0;
        int mtp = speculative ? 1 : 0;
        slots = new KvCache(cfg, batch, cfg.MaxPositionEmbeddings, model.ComputeType, device, mtp);
        batchViews = new KvCache?[batch + 1];
        rowViews = new KvCache?[batch];
        kvBytesPerToken = KvCache.BytesPerToken(cfg, (int)slots.Layers[0].A.ElementSize, mtp);
        prefix = new PrefixCache(this.options.PrefixBlockSize, this.options.PrefixCacheBytes, kvBytesPerToken);
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
            DraftedTokens = Interlocked.Read(ref draftedTokens), AcceptedDrafts = Interlocked.Read(ref acceptedDrafts),
            KvSlotBytes = Enumerable.Range(0, slots.BatchSize).Sum(r => (long)slots.FiniteLength(r)) * kvBytesPerToken,
            KvSlotCapacityBytes = (long)slots.BatchSize * slots.MaxLength * kvBytesPerToken,
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
            try
            {
                DropCancelled();
                Admit();
                if (running.Count > 0) { if (speculative) StepSpeculative(); else Step(); }
            }
            catch (Exception e) { FailRunning(e); }
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

    /// <summary>Takes queued requests into the free rows after the running ones, prefills them (batched, see
    /// <see cref="Prefill"/>), and samples each one's first token.</summary>
    void Admit()
    {
        var admitted = new List<Sequence>();
        while (running.Count + admitted.Count < options.MaxBatchSize)
        {
            Sequence? seq;
            lock (gate)
                if (!queue.TryDequeue(out seq)) break;
            if (seq.Cancelled) seq.Finish(FinishReason.Cancelled);
            else admitted.Add(seq);
        }
        if (admitted.Count == 0) return;
        int first = running.Count, vocab = Config.VocabSize;
        try { Prefill(admitted, first); }
        catch (Exception e)
        {
            // A failure leaves the rows of the admission undefined.
            foreach (var seq in admitted) seq.Fail(e);
            for (int i = 0; i < admitted.Count; i++) Scrub(first + i);
            return;
        }
        running.AddRange(admitted);
        Volatile.Write(ref runningCount, running.Count);
        // Backwards, as in Step: retiring moves the last row, which is then already advanced.
        for (int i = admitted.Count - 1; i >= 0; i--)
            if (!Advance(admitted[i], logits.AsSpan(i * vocab, vocab), out var reason, out var error)) Retire(first + i, reason, error);
        if (speculative) DraftAdmitted(admitted);
    }

    /// <summary>Restores each admitted prompt's cached prefix into its row (first, first + 1, ...), then computes
    /// the rest of each prompt in a forward of its own, the same shapes as when it comes alone (so that in bf16 its
    /// KV and first token do not depend on what it was admitted with); with <see cref="EngineOptions.GroupPrefill"/>,
    /// in as few forwards as fit <see cref="EngineOptions.MaxPrefillTokens"/>: consecutive
    /// rows are right-padded to the longest remainder and run with per-row positions; padding writes keys past
    /// its row's length, which the row never attends and later overwrites. Logits of admitted row i go to
    /// row i of the logits buffer.</summary>
    void Prefill(List<Sequence> admitted, int first)
    {
        long t0 = Stopwatch.GetTimestamp();
        int ctx = Config.MaxPositionEmbeddings;
        for (int i = 0; i < admitted.Count; i++)
        {
            var prompt = admitted[i].Request.Prompt;
            // At least one prompt token is computed: its logits give the first generated token.
            admitted[i].CachedPromptTokens = prefix.Restore(prompt, prompt.Count - 1, slots, first + i);
        }
        int Rest(int i) => admitted[i].Request.Prompt.Count - admitted[i].CachedPromptTokens;
        for (int start = 0; start < admitted.Count;)
        {
            int end = start + 1, width = Rest(start), deepest = admitted[start].CachedPromptTokens;
            // Grow the group while its padded size fits the budget and no row's padding runs past the context.
            while (options.GroupPrefill && !speculative && end < admitted.Count)
            {
                int w = Math.Max(width, Rest(end)), cached = Math.Max(deepest, admitted[end].CachedPromptTokens);
                if ((end - start + 1) * w > options.MaxPrefillTokens || cached + w > ctx) break;
                width = w;
                deepest = cached;
                end++;
            }
            PrefillGroup(admitted, start, end, first, width);
            start = end;
        }
        for (int i = 0; i < admitted.Count; i++)
        {
            var seq = admitted[i];
            seq.CacheLength = seq.Request.Prompt.Count;
            prefix.Store(seq.Request.Prompt, seq.CacheLength, slots, first + i);
            Interlocked.Add(ref promptTokens, seq.CacheLength);
            Interlocked.Add(ref cachedPromptTokens, seq.CachedPromptTokens);
        }
        Interlocked.Add(ref prefillTicks, Stopwatch.GetTimestamp() - t0);
    }

    /// <summary>One forward over admitted rows [start, end), each right-padded to <paramref name="width"/> tokens.</summary>
    void PrefillGroup(List<Sequence> admitted, int start, int end, int first, int width)
    {
        int k = end - start;
        var ids = new long[k * width];
        var starts = new int[k];
        var lastIndex = new int[k];
        for (int j = 0; j < k; j++)
        {
            var seq = admitted[start + j];
            var prompt = seq.Request.Prompt;
            starts[j] = seq.CachedPromptTokens;
            lastIndex[j] = prompt.Count - starts[j] - 1;
            for (int t = 0; t <= lastIndex[j]; t++) ids[j * width + t] = prompt[starts[j] + t];
        }
        using var scope = NewDisposeScope();
        var input = tensor(ids, [k, width], device: device);
        if (k == 1 && speculative)
        {
            PrefillSpeculative(admitted[start], input, starts[0], lastIndex[0], rowViews[first + start] ??= slots.Slice(first + start, 1), start);
            return;
        }
        if (k == 1) // one sequence: the shared-start path (causal attention without a mask tensor)
        {
            CopyLogits(model.ForwardLast(input, starts[0], rowViews[first + start] ??= slots.Slice(first + start, 1)), start);
            return;
        }
        using var rows = new RowPositions(starts, width, device);
        using var view = slots.Slice(first + start, k);
        CopyLogits(model.ForwardLast(input, new Positions(0, rows), view, lastIndex), start);
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
            FailRunning(e);
            return;
        }
        Interlocked.Increment(ref decodeSteps);
        Interlocked.Add(ref decodeRows, n);
        // Backwards, so that moving the last row into a retired one only moves rows already advanced.
        for (int b = n - 1; b >= 0; b--)
        {
            var seq = running[b];
            seq.CacheLength++;
            if (!Advance(seq, logits.AsSpan(b * vocab, vocab), out var reason, out var error)) Retire(b, reason, error);
        }
        Interlocked.Add(ref decodeTicks, Stopwatch.GetTimestamp() - t0);
    }

    /// <summary>Copies (n, V) logits to the host buffer, starting at its row <paramref name="row"/>.</summary>
    void CopyLogits(Tensor rows, int row = 0)
    {
        TensorPointer.CopyFloats(rows, logits.AsSpan(row * Config.VocabSize, (int)rows.numel()));
    }

    /// <summary>Ends every running request with <paramref name="error"/> and empties the batch.</summary>
    void FailRunning(Exception error)
    {
        int n = running.Count;
        foreach (var seq in running) seq.Fail(error);
        running.Clear();
        Volatile.Write(ref runningCount, 0);
        // Called from the loop's last-resort handler too, so it must not throw: should even zeroing fail, the rows'
        // next sequences fail on their own, and the thread still serves.
        try { for (int b = 0; b < n; b++) Scrub(b); }
        catch (Exception) { }
    }

    /// <summary>Samples the next token; false when the sequence is done (and why, or the error that ends it: its
    /// row of logits could not be sampled from).</summary>
    bool Advance(Sequence seq, ReadOnlySpan<float> row, out FinishReason reason, out Exception? error)
    {
        reason = FinishReason.Cancelled;
        error = null;
        if (seq.Cancelled) return false;
        int next;
        try { next = Sampler.Sample(row, seq.Request.Sampling, seq.Rng); }
        catch (Exception e) // tied to this row: the others sample on
        {
            error = e is InvalidLogitsException bad ? bad.AtToken(seq.Generated + 1) : e;
            return false;
        }
        return Accept(seq, next, out reason);
    }

    /// <summary>Emits <paramref name="next"/> unless it is a stop id; false when the sequence is done (and why).</summary>
    bool Accept(Sequence seq, int next, out FinishReason reason)
    {
        reason = FinishReason.Cancelled;
        if (seq.Request.StopIds is { } stop && stop.Contains(next)) { reason = FinishReason.Stop; return false; }
        seq.Emit(next);
        Interlocked.Increment(ref completionTokens);
        if (seq.Generated >= seq.Budget) { reason = FinishReason.Length; return false; }
        return true;
    }

    /// <summary>Ends the sequence in row <paramref name="b"/> (with <paramref name="error"/> when one is given), keeps
    /// its blocks for prefix reuse, and moves the last row into its place.</summary>
    void Retire(int b, FinishReason reason, Exception? error = null)
    {
        var seq = running[b];
        // Generated tokens are cached too: the next turn of a chat repeats this one's prompt and reply. A failed
        // sequence's are not: whatever made its logits invalid is in them.
        if (error is null)
            try { prefix.Store(seq.Tokens, seq.CacheLength, slots, b); }
            catch (Exception e) { error = e; }
        if (error is null) seq.Finish(reason);
        else
        {
            seq.Fail(error);
            Scrub(b);
        }
        int last = running.Count - 1;
        if (b != last)
        {
            slots.CopyRow(last, b, running[last].CacheLength);
            running[b] = running[last];
        }
        running.RemoveAt(last);
        Volatile.Write(ref runningCount, running.Count);
    }

    /// <summary>Forgets cache row <paramref name="b"/> after a failure. The next sequence in the row overwrites only the
    /// positions it fills, and a decode step reads every row up to the longest: a shorter row's stale positions are
    /// masked out of the softmax, but 0 × NaN is NaN, so NaN keys or values left by a failed sequence would end the
    /// next one too. Forgotten, the row is zeroed as far as a forward reads it before it is read (KvCache.Prepare).</summary>
    void Scrub(int b) => slots.Forget(b);

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
        /// <summary>Speculative decoding: the drafted next token, the distribution it was drawn from, and (between a
        /// forward and its draft pass) the main model's residual at the positions the draft pass reads.</summary>
        public int Draft { get; set; } = -1;
        public double[]? DraftQ { get; set; }
        public float[]? Hidden { get; set; }
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
