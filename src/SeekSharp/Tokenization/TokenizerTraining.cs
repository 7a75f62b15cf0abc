using System.Diagnostics;
using System.Text;
using SeekSharp.Data;

namespace SeekSharp.Tokenization;

public sealed record TokenizerTrainReport(
    int VocabSize,
    int Merges,
    int Documents,
    long TrainingBytes,
    double Seconds,
    int HeldOutDocuments,
    long HeldOutBytes,
    long HeldOutTokens,
    double BytesPerToken,
    string OutputPath);

/// <summary>
/// What `seek tok train` runs: gather documents, train on most, save, measure bytes per token on the
/// rest. Folders are walked recursively for *.txt, *.md and *.jsonl in ordinal path order; a text
/// file is one document, a .jsonl line one document (its "text" field). Documents stream from disk
/// twice (train, then evaluate) instead of being held in memory. Which documents are held out
/// depends only on a hash of the file name and the document's position in it, so reruns, machines and
/// folders agree and adding files does not reshuffle the split.
/// </summary>
public static class TokenizerTraining
{
    public static TokenizerTrainReport Run(IReadOnlyList<string> inputs, int vocabSize, string outDir,
        double heldOutFraction = 0.02, Action<string>? log = null, bool splitDigits = false)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        if (heldOutFraction is < 0 or >= 1 || double.IsNaN(heldOutFraction))
            throw new SeekSharpException($"held-out fraction {heldOutFraction} must be in [0, 1)");
        var files = DocumentSource.ResolveFiles(inputs);
        log?.Invoke($"found {files.Count} input files");

        // Validate every .jsonl line and count documents before the expensive part starts.
        int docs = 0, heldDocs = 0;
        foreach (var d in ReadDocuments(files))
        {
            docs++;
            if (IsHeldOut(d.Key, heldOutFraction)) heldDocs++;
        }
        if (docs == 0) throw new SeekSharpException($"no documents found in {string.Join(", ", inputs)} (expected *.txt, *.md or *.jsonl files)");
        // With a single document (or an unlucky split) train on everything rather than on nothing.
        var holdOut = heldDocs < docs ? heldOutFraction : 0;
        if (holdOut == 0) heldDocs = 0;

        long trainBytes = 0;
        var sw = Stopwatch.StartNew();
        var training = ReadDocuments(files).Where(d => !IsHeldOut(d.Key, holdOut)).Select(d =>
        {
            Interlocked.Add(ref trainBytes, Encoding.UTF8.GetByteCount(d.Text));
            return d.Text;
        });
        var tok = BpeTrainer.Train(training, vocabSize,
            log is null ? null : (done, total) => { if (done % 1024 == 0 || done == total) log($"merges {done}/{total}"); }, splitDigits);
        var seconds = sw.Elapsed.TotalSeconds;
        log?.Invoke($"trained {tok.MergeCount} merges on {trainBytes:N0} bytes in {seconds:F1} s");

        tok.Save(outDir);
        var outPath = Path.GetFullPath(Path.Combine(outDir, "tokenizer.json"));

        long heldBytes = 0, heldTokens = 0;
        if (heldDocs > 0)
            foreach (var d in ReadDocuments(files).Where(d => IsHeldOut(d.Key, holdOut)))
            {
                heldBytes += Encoding.UTF8.GetByteCount(d.Text);
                heldTokens += tok.Encode(d.Text).Length;
            }
        var bpt = heldTokens > 0 ? (double)heldBytes / heldTokens : 0;
        log?.Invoke(heldDocs > 0 ? $"held-out: {heldDocs} documents, {bpt:F3} bytes/token" : "held-out: none (bytes/token not measured)");
        return new TokenizerTrainReport(tok.VocabSize, tok.MergeCount, docs, trainBytes, seconds,
            heldDocs, heldBytes, heldTokens, bpt, outPath);
    }

    /// <summary>
    /// Documents keyed for the held-out choice by file name and position in the file, not by full path:
    /// the same corpus must give the same split, and so the same tokenizer, wherever it is stored.
    /// </summary>
    internal static IEnumerable<(string Key, string Text)> ReadDocuments(IEnumerable<string> files)
    {
        foreach (var file in files)
        {
            var i = 0;
            foreach (var (text, _, _) in DocumentSource.Read(file, _ => { }))
                yield return ($"{Path.GetFileName(file)}#{i++}", text);
        }
    }

    /// <summary>FNV-1a over the key's UTF-16: stable across runs and platforms, unlike string.GetHashCode.</summary>
    internal static bool IsHeldOut(string key, double fraction)
    {
        if (fraction <= 0) return false;
        var h = 14695981039346656037UL;
        foreach (var c in key) { h ^= c; h *= 1099511628211UL; }
        h ^= h >> 29; // FNV's low bits mix poorly for keys that differ only at the end
        h *= 0xBF58476D1CE4E5B9UL;
        h ^= h >> 32;
        return (h % 1_000_000) < fraction * 1_000_000;
    }
}
