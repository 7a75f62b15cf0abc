using System.Diagnostics;
using SeekSharp.Inference;
using SeekSharp.Kernels;
using SeekSharp.Modeling;
using static TorchSharp.torch;

namespace SeekSharp.Serving;

// Speculative decoding with the model's MTP module 1 as the drafter (DeepSeek-V3 section 5.4.3; decision 0021).
// Every running row carries one drafted token d for the position after its last token t. A step runs ONE main
// forward over (n, 2) inputs [t, d], each row at its own positions [len, len+1] through the KV cache, and verifies d
// against the logits at t (SpeculativeSampler: greedy keeps d exactly when it is the argmax; sampling keeps the main
// model's distribution). Accepted: d is emitted and the logits at d give one more token for free. Rejected: the
// verifier's token is emitted, and the cache entry written for d is rolled back by not counting it (the row's length
// does not cover it; the next step overwrites it). Then the MTP module drafts each row's next token in one batched
// forward of its own over the same two positions: its cache layer (the slot cache's layer after the main model's)
// holds, at position j, the state made from the main residual at j and the token at j+1. The draft pass also runs at
// admission, over the prompt, so the first decode step already verifies a draft. Prefix-cache blocks carry the MTP
// layer too; the restored MTP entry at the block edge was made with the old continuation's token - it can only lower
// the acceptance rate, never change what is emitted.

public sealed partial class GenerationEngine
{
    readonly bool speculative;
    long draftedTokens, acceptedDrafts;

    /// <summary>Prefill of one prompt: logits and residual at every computed position, the MTP module's cache over the
    /// prompt (position j from residual j and token j+1), and the last position's residual for the first draft.</summary>
    void PrefillSpeculative(Sequence seq, Tensor input, int start, int last, KvCache view, int logitsRow)
    {
        var (all, h) = model.ForwardVerify(input, start, view);
        CopyLogits(all.narrow(1, last, 1).squeeze(1), logitsRow);
        if (last > 0) model.Draft(h.narrow(1, 0, last), input.narrow(1, 1, last), start, view, pick: null);
        seq.Hidden = TensorPointer.Floats(h.narrow(1, last, 1));
    }

    /// <summary>The first draft of each admitted row still running: from its prompt's last residual and its first token.</summary>
    void DraftAdmitted(List<Sequence> admitted)
    {
        for (int b = 0; b < running.Count; b++)
        {
            var seq = running[b];
            if (seq.Hidden is null || !admitted.Contains(seq)) continue;
            try { DraftRows(b, 1, seq.Hidden, [seq.Tokens[^1]], [seq.CacheLength - 1], 1, [0]); }
            catch (Exception e) { Retire(b--, FinishReason.Cancelled, e); continue; }
            seq.Hidden = null;
        }
    }

    /// <summary>One MTP forward over rows [first, first + count), T positions each from <paramref name="starts"/>:
    /// sets each row's draft from its position <paramref name="pick"/>.</summary>
    void DraftRows(int first, int count, float[] hidden, long[] next, int[] starts, int t, int[] pick)
    {
        int vocab = Config.VocabSize, width = Config.HiddenSize;
        float[] host;
        using (var scope = NewDisposeScope())
        {
            var h = tensor(hidden, [count, t, width], device: device);
            var ids = tensor(next, [count, t], device: device);
            using var rows = new RowPositions(starts, t, device);
            var view = count == running.Count && first == 0 ? batchViews[count] ??= slots.Slice(0, count) : slots.Slice(first, count);
            var draft = model.Draft(h, ids, new Positions(0, rows), view, pick)!;
            if (!(count == running.Count && first == 0)) view.Dispose();
            host = TensorPointer.Floats(draft);
        }
        for (int b = 0; b < count; b++)
        {
            var seq = running[first + b];
            var q = SpeculativeSampler.Distribution(host.AsSpan(b * vocab, vocab), seq.Request.Sampling);
            seq.DraftQ = q;
            seq.Draft = SpeculativeSampler.Draw(q, seq.Rng);
        }
    }

    /// <summary>One verify forward over every running row ([last token, draft] each), then one draft pass.</summary>
    void StepSpeculative()
    {
        int n = running.Count, vocab = Config.VocabSize, width = Config.HiddenSize;
        long t0 = Stopwatch.GetTimestamp();
        float[] all, hidden;
        try
        {
            var ids = new long[2 * n];
            var starts = new int[n];
            for (int b = 0; b < n; b++) { ids[2 * b] = running[b].Tokens[^1]; ids[2 * b + 1] = running[b].Draft; starts[b] = running[b].CacheLength; }
            using var scope = NewDisposeScope();
            using var rows = new RowPositions(starts, 2, device);
            var (l, h) = model.ForwardVerify(tensor(ids, [n, 2], device: device), new Positions(0, rows), batchViews[n] ??= slots.Slice(0, n));
            all = TensorPointer.Floats(l);
            hidden = TensorPointer.Floats(h);
        }
        catch (Exception e) { FailRunning(e); return; }
        Interlocked.Increment(ref decodeSteps);
        Interlocked.Add(ref decodeRows, n);

        var plan = new Dictionary<Sequence, (int Row, int Start, long A, long B, int Pick)>();
        for (int b = n - 1; b >= 0; b--)
        {
            var seq = running[b];
            int start = seq.CacheLength;
            seq.CacheLength++;                                   // the last token's entry is now cached
            bool more;
            FinishReason reason = FinishReason.Cancelled;
            Exception? error = null;
            try
            {
                if (seq.Cancelled) more = false;
                else
                {
                    var p = SpeculativeSampler.Distribution(all.AsSpan(2 * b * vocab, vocab), seq.Request.Sampling);
                    var (token, accepted) = SpeculativeSampler.Verify(p, seq.DraftQ!, seq.Draft, seq.Rng);
                    Interlocked.Increment(ref draftedTokens);
                    if (accepted) Interlocked.Increment(ref acceptedDrafts);
                    more = Accept(seq, token, out reason);
                    if (more && accepted)
                    {
                        seq.CacheLength++;                       // the draft's entry stands: it is the token emitted
                        more = Advance(seq, all.AsSpan((2 * b + 1) * vocab, vocab), out reason, out error);
                        plan[seq] = (b, start, token, seq.Tokens[^1], 1);
                    }
                    else plan[seq] = (b, start, token, token, 0);
                }
            }
            catch (Exception e) { error = e is InvalidLogitsException bad ? bad.AtToken(seq.Generated + 1) : e; more = false; }
            if (!more) Retire(b, reason, error);
        }
        if (running.Count > 0)
        {
            int m = running.Count;
            var h2 = new float[m * 2 * width];
            var next = new long[2 * m];
            var starts = new int[m];
            var pick = new int[m];
            for (int b = 0; b < m; b++)
            {
                var (row, start, a, c, k) = plan[running[b]];
                Array.Copy(hidden, row * 2 * width, h2, b * 2 * width, 2 * width);
                next[2 * b] = a;
                next[2 * b + 1] = c;
                starts[b] = start;
                pick[b] = k;
            }
            try { DraftRows(0, m, h2, next, starts, 2, pick); }
            catch (Exception e) { FailRunning(e); }
        }
        Interlocked.Add(ref decodeTicks, Stopwatch.GetTimestamp() - t0);
    }
}
