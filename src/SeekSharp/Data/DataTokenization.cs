using System.Diagnostics;

namespace SeekSharp.Data;

public sealed record TokenizationReport(
    long Documents, long TrainDocuments, long ValDocuments,
    long TrainTokens, long ValTokens, int TrainShards, int ValShards,
    long BytesRead, double Seconds);

/// <summary>
/// Turns text files into a <see cref="TokenDataset"/> folder (what <c>seek data tokenize</c> runs).
/// </summary>
/// <remarks>
/// Design: documents stream through <see cref="OrderedParallel"/>: read on one thread, encoded on every
/// core (tokenizers are the bottleneck), written in input order by <see cref="TokenDatasetWriter"/>, so
/// output is identical for any core count. A document's split depends only on its index (a stable hash),
/// never on timing.
/// </remarks>
public static class DataTokenization
{
    private const int InFlightDocuments = 256;
    private const long InFlightChars = 8 << 20;

    public static TokenizationReport Run(
        IReadOnlyList<string> inputs, Func<string, int[]> encode, int vocabSize, string tokenizerHash,
        int bosId, int eosId, string outDir, double valFraction = 0.05, long shardTokens = 50_000_000,
        Action<string>? log = null, Action<long, int, bool>? onDocument = null)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(encode);
        var clock = Stopwatch.StartNew();
        var files = DocumentSource.ResolveFiles(inputs);   // a missing input fails before the output folder is touched
        using var writer = new TokenDatasetWriter(outDir, vocabSize, tokenizerHash, bosId, eosId, valFraction, shardTokens, log, onDocument);
        log?.Invoke($"tokenizing {files.Count} file(s) into {outDir}");
        long bytesRead = 0;   // counted on the reader thread, read after it has finished
        var docs = files.SelectMany(file => DocumentSource.Read(file, n => bytesRead += n).Select(d => (File: file, d.Text, d.Source, d.Val)));
        string? current = null;
        foreach (var (file, tokens, val) in OrderedParallel.Map(docs,
                     d => (d.File, Frame(encode(d.Text), bosId, eosId, vocabSize, d.Source), d.Val),
                     d => d.Text.Length + 1, InFlightDocuments, InFlightChars))
        {
            if (file != current) log?.Invoke($"reading {current = file}");
            writer.Add(tokens, val);
        }
        var report = writer.Complete(inputs, bytesRead, clock.Elapsed.TotalSeconds);
        log?.Invoke($"done: {report.Documents} documents, train {report.TrainTokens} tokens in {report.TrainShards} shard(s), " +
                    $"val {report.ValTokens} tokens in {report.ValShards} shard(s), {report.BytesRead} bytes read in {report.Seconds:F1} s");
        return report;
    }

    /// <summary>A document as stored: bos, the ids, eos; ids outside the vocabulary are an error naming <paramref name="source"/>.</summary>
    public static int[] Frame(ReadOnlySpan<int> ids, int bosId, int eosId, int vocabSize, string source)
    {
        foreach (var id in ids)
            if ((uint)id >= (uint)vocabSize)
                throw new SeekSharpException($"{source}: the tokenizer produced id {id}, outside the vocabulary [0, {vocabSize}).");
        var doc = new int[ids.Length + 2];
        doc[0] = bosId;
        ids.CopyTo(doc.AsSpan(1));
        doc[^1] = eosId;
        return doc;
    }
}
