using SeekSharp.Data;
using SeekSharp.Modeling;
using SeekSharp.Training;
using static TorchSharp.torch;

namespace SeekSharp.Selection;

// Documents of a token split and their per-document scores. A split is one stream of documents framed
// <|bos|> … <|eos|> (DataTokenization.Frame), so a document is the run from one <|bos|> to the next. A
// document longer than the context is scored in consecutive windows of the context; windows are sorted by
// length and batched, each batch padded only to its longest row, so a pool of short mails and long speeches
// costs little padding. Every target is scored once: a document of L tokens contributes L − 1 targets.

/// <summary>One document of a split: its first token's index and its length (its <|bos|> and <|eos|> included).</summary>
public readonly record struct DocumentSpan(long Start, int Length);

/// <summary>Per-document sums over each document's targets, by one or two models.</summary>
public sealed record DocumentScores(double[] Loss, double[]? Entropy, double[]? ReferenceLoss, int[] Targets, long ScoredTokens);

public static class DocumentScorer
{
    /// <summary>The documents of <paramref name="split"/>, in order; the split must start with <paramref name="bosId"/>.</summary>
    public static List<DocumentSpan> Documents(TokenSplit split, int bosId, string source)
    {
        var docs = new List<DocumentSpan>();
        if (split.Count == 0) return docs;
        if (split[0] != bosId)
            throw new SeekSharpException($"{source}: the {split.Name} split does not start with <|bos|> (id {bosId}); expected documents framed by `seek data tokenize`.");
        var buf = new int[1 << 16];
        long start = 0;
        for (long at = 0; at < split.Count; at += buf.Length)
        {
            var n = (int)Math.Min(buf.Length, split.Count - at);
            split.Read(at, buf.AsSpan(0, n));
            for (int i = 0; i < n; i++)
            {
                long pos = at + i;
                if (buf[i] != bosId || pos == 0) continue;
                docs.Add(new DocumentSpan(start, checked((int)(pos - start))));
                start = pos;
            }
        }
        docs.Add(new DocumentSpan(start, checked((int)(split.Count - start))));
        return docs;
    }

    /// <summary>Scores every document with <paramref name="model"/> (loss, and entropy when asked) and, when given, with
    /// <paramref name="reference"/> (loss), in batches of <paramref name="batchSize"/> windows of at most <paramref name="seqLen"/> targets.</summary>
    /// <param name="onBatch">Called after each batch with (batches done, batches in all, tokens scored so far).</param>
    public static DocumentScores Score(TokenSplit split, IReadOnlyList<DocumentSpan> docs, Transformer model, Transformer? reference,
        bool entropy, int seqLen, int batchSize, int padId, Device device, Action<int, int, long>? onBatch = null)
    {
        var windows = new List<(int Doc, int Offset, int Length)>();
        for (int d = 0; d < docs.Count; d++)
            for (int off = 0; off < docs[d].Length - 1; off += seqLen)
                windows.Add((d, off, Math.Min(seqLen, docs[d].Length - 1 - off)));
        // Longest first, ties in document order: deterministic, and each batch's rows are of similar length.
        windows.Sort((a, b) => a.Length != b.Length ? b.Length.CompareTo(a.Length) : a.Doc != b.Doc ? a.Doc.CompareTo(b.Doc) : a.Offset.CompareTo(b.Offset));

        var loss = new double[docs.Count];
        var refLoss = reference is null ? null : new double[docs.Count];
        var ent = entropy ? new double[docs.Count] : null;
        var targets = new int[docs.Count];
        int batches = (windows.Count + batchSize - 1) / batchSize;
        long scored = 0;
        var row = new int[seqLen + 1];
        for (int b = 0; b < batches; b++)
        {
            var slice = windows.GetRange(b * batchSize, Math.Min(batchSize, windows.Count - b * batchSize));
            int width = slice[0].Length, rows = slice.Count;
            var inp = new long[rows * width];
            var tgt = new long[rows * width];
            for (int r = 0; r < rows; r++)
            {
                var (d, off, len) = slice[r];
                split.Read(docs[d].Start + off, row.AsSpan(0, len + 1));
                for (int t = 0; t < width; t++)
                {
                    inp[r * width + t] = t < len ? row[t] : padId;
                    tgt[r * width + t] = t < len ? row[t + 1] : LmLoss.Ignore;
                }
            }
            var s = TokenScores.Rows(model, inp, tgt, rows, width, device, entropy);
            var rs = reference is null ? null : TokenScores.Rows(reference, inp, tgt, rows, width, device, entropy: false);
            for (int r = 0; r < rows; r++)
            {
                var d = slice[r].Doc;
                loss[d] += s.Loss[r];
                if (ent is not null) ent[d] += s.Entropy![r];
                if (refLoss is not null) refLoss[d] += rs!.Loss[r];
                targets[d] += s.Tokens[r];
                scored += s.Tokens[r];
            }
            onBatch?.Invoke(b + 1, batches, scored);
        }
        return new DocumentScores(loss, ent, refLoss, targets, scored);
    }
}
