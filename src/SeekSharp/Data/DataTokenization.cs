using System.Diagnostics;

namespace SeekSharp.Data;

public sealed record TokenizationReport(
    long Documents, long TrainDocuments, long ValDocuments,
    long TrainTokens, long ValTokens, int TrainShards, int ValShards,
    long BytesRead, double Seconds)
{
    /// <summary>Files found but not read, by reason (hidden, not_regular, broken_link, link_loop, bad_name,
    /// unreadable, unsupported, binary, too_large); empty for `seek data prepare`, which quarantines them.</summary>
    public IReadOnlyDictionary<string, long> Skipped { get; init; } = new Dictionary<string, long>();
}

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
        var found = DocumentSource.Walk(inputs);   // a missing input fails before the output folder is touched
        var skipped = new SortedDictionary<string, long>(StringComparer.Ordinal);   // written on the reader thread, read after it has finished
        void Skip(string reason, string detail)
        {
            skipped[reason] = skipped.GetValueOrDefault(reason) + 1;
            log?.Invoke($"skipped ({reason}) {detail}");
        }
        foreach (var f in found.Where(f => f.Skip is not null)) Skip(f.Skip!, f.Detail!);
        var files = found.Where(f => f.Skip is null).Select(f => f.Path).ToList();
        if (files.Count == 0)
            throw new SeekSharpException($"no file to read in {string.Join(", ", inputs.Select(FileWalker.Printable))}: {Summary(skipped)}.");
        using var writer = new TokenDatasetWriter(outDir, vocabSize, tokenizerHash, bosId, eosId, valFraction, shardTokens, log, onDocument);
        log?.Invoke($"tokenizing {files.Count} file(s) into {outDir}");
        long bytesRead = 0;   // counted on the reader thread, read after it has finished
        var docs = files.SelectMany(file => DocumentSource.Read(file, n => bytesRead += n, Skip).Select(d => (File: file, d.Text, d.Source, d.Val)));
        string? current = null;
        long documents = 0;
        foreach (var (file, tokens, val) in OrderedParallel.Map(docs,
                     d => (d.File, Frame(encode(d.Text), bosId, eosId, vocabSize, d.Source), d.Val),
                     d => d.Text.Length + 1, InFlightDocuments, InFlightChars))
        {
            if (file != current) log?.Invoke($"reading {FileWalker.Printable(current = file)}");
            writer.Add(tokens, val);
            documents++;
        }
        if (documents == 0)
            throw new SeekSharpException($"no document found in {string.Join(", ", inputs.Select(FileWalker.Printable))}: {Summary(skipped)}.");
        var report = writer.Complete(inputs, bytesRead, clock.Elapsed.TotalSeconds) with { Skipped = skipped };
        log?.Invoke($"done: {report.Documents} documents, train {report.TrainTokens} tokens in {report.TrainShards} shard(s), " +
                    $"val {report.ValTokens} tokens in {report.ValShards} shard(s), {report.BytesRead} bytes read in {report.Seconds:F1} s");
        return report;
    }

    /// <summary>"3 skipped (binary 1, hidden 2)", or "0 skipped".</summary>
    public static string Summary(IReadOnlyDictionary<string, long> skipped) =>
        skipped.Count == 0 ? "0 skipped" : $"{skipped.Values.Sum()} skipped ({string.Join(", ", skipped.Select(kv => $"{kv.Key} {kv.Value}"))})";

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
