using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Serialization;
using SeekSharp.Checkpoints;
using SeekSharp.Data;
using SeekSharp.IO;
using SeekSharp.Ledger;
using SeekSharp.Modeling;
using SeekSharp.Tokenization;
using SeekSharp.Training;
using static TorchSharp.torch;

namespace SeekSharp.Selection;

// `seek data select`: score every training document of a token dataset with a model (DocumentScorer), keep a
// fraction (SelectionChoice) and write a token dataset of the kept documents, in their original order, that
// every command reads as it reads `seek data tokenize`'s output. The validation split is copied unchanged, so
// a run on the selection validates on exactly what a run on the whole pool validates on. Every check runs
// before anything is written; the output is assembled in a hidden sibling folder and renamed into place last,
// so OUT is either absent or complete. selection.json lists every document's scores and whether it was kept
// (what was dropped); ledger.json bills the scoring (forward FLOPs of the model, and of the reference).

/// <summary>What `seek data select` does.</summary>
public sealed record SelectOptions
{
    public required string ModelDir { get; init; }
    public required string DataDir { get; init; }
    public required string OutDir { get; init; }
    /// <summary>Fraction of training documents kept, in (0, 1].</summary>
    public required double KeepFraction { get; init; }
    /// <summary>loss, excess-loss (needs <see cref="ReferenceDir"/>) or entropy.</summary>
    public required string Score { get; init; }
    public string? ReferenceDir { get; init; }
    /// <summary>Sample proportionally to the score instead of keeping the top.</summary>
    public bool Sample { get; init; }
    public int Seed { get; init; } = 1;
    /// <summary>Windows per scoring forward.</summary>
    public int BatchSize { get; init; } = 16;
    public string Precision { get; init; } = "bf16";
    public string Device { get; init; } = "cpu";
    public string? HardwareProfilePath { get; init; }
}

/// <summary>One training document in selection.json.</summary>
public sealed record SelectedDocument(
    [property: JsonPropertyName("index")] int Index,
    [property: JsonPropertyName("tokens")] int Tokens,
    [property: JsonPropertyName("score")] double Score,
    [property: JsonPropertyName("loss")] double Loss,
    [property: JsonPropertyName("reference_loss")][property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] double? ReferenceLoss,
    [property: JsonPropertyName("entropy")][property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] double? Entropy,
    [property: JsonPropertyName("kept")] bool Kept);

/// <summary>selection.json: how the dataset was selected and every document's scores.</summary>
public sealed record SelectionManifest
{
    public const string FileName = "selection.json";
    [JsonPropertyName("source")] public required string Source { get; init; }
    [JsonPropertyName("model")] public required string Model { get; init; }
    [JsonPropertyName("reference")] public string? Reference { get; init; }
    [JsonPropertyName("score")] public required string Score { get; init; }
    [JsonPropertyName("keep_fraction")] public required double KeepFraction { get; init; }
    [JsonPropertyName("sample")] public required bool Sample { get; init; }
    [JsonPropertyName("seed")] public required int Seed { get; init; }
    [JsonPropertyName("documents")] public required int Documents { get; init; }
    [JsonPropertyName("kept_documents")] public required int KeptDocuments { get; init; }
    [JsonPropertyName("tokens")] public required long Tokens { get; init; }
    [JsonPropertyName("kept_tokens")] public required long KeptTokens { get; init; }
    [JsonPropertyName("scored_tokens")] public required long ScoredTokens { get; init; }
    [JsonPropertyName("scoring_flops")] public required double ScoringFlops { get; init; }
    [JsonPropertyName("seconds")] public required double Seconds { get; init; }
    [JsonPropertyName("per_document")] public required List<SelectedDocument> PerDocument { get; init; }

    public static readonly JsonSerializerOptions Json = new() { WriteIndented = true };
    public static SelectionManifest Load(string path) =>
        JsonSerializer.Deserialize<SelectionManifest>(File.ReadAllText(path), Json) ?? throw new SeekSharpException($"{path}: expected a selection manifest.");
}

public sealed record SelectResult(string OutDir, SelectionManifest Manifest, LedgerEntry Ledger);

public static class DataSelection
{
    public static SelectResult Run(SelectOptions o, ITrainingObserver? observer = null)
    {
        Check(o);
        var clock = Stopwatch.StartNew();
        using var ds = TokenDataset.Open(o.DataDir);
        var (_, cfg) = Perplexity.CheckDataset(o.ModelDir, ds, "select from");
        ModelConfig? refCfg = null;
        if (o.ReferenceDir is { } refDir) refCfg = CheckReference(refDir, ds);
        int seqLen = Math.Min(cfg.MaxPositionEmbeddings, refCfg?.MaxPositionEmbeddings ?? int.MaxValue);
        var docs = DocumentScorer.Documents(ds.Train, ds.BosId, Path.Combine(o.DataDir, DatasetManifest.FileName));
        if (docs.Count == 0) throw new SeekSharpException($"{Path.Combine(o.DataDir, DatasetManifest.FileName)}: the train split holds no document to select from.");

        var device = new Device(o.Device);
        using var model = Load(o.ModelDir, o.Precision, device);
        using var reference = o.ReferenceDir is null ? null : Load(o.ReferenceDir, o.Precision, device);
        var tmp = TempSibling(o.OutDir);
        using var ledger = RunLedger.Start("data-select", HardwareProfile.Resolve(o.HardwareProfilePath), runDir: tmp);
        ledger.RecordData(o.DataDir);
        observer?.OnMessage($"scoring {docs.Count} documents ({ds.TrainTokens:N0} tokens) with {o.ModelDir}" + (o.ReferenceDir is null ? "" : $" and reference {o.ReferenceDir}"));
        observer?.OnStart(0, 1);
        var batchClock = Stopwatch.StartNew();
        var scores = DocumentScorer.Score(ds.Train, docs, model, reference, o.Score == "entropy", seqLen, o.BatchSize, ds.EosId, device,
            (done, all, tokens) => observer?.OnStep(new StepMetrics(done, all, 0, 0, 0, 0, 0, tokens / Math.Max(batchClock.Elapsed.TotalSeconds, 1e-9),
                tokens, batchClock.Elapsed.TotalSeconds, null, null) { Summary = $"scored {tokens:N0} tokens" }));
        double flops = TokenScores.Flops(cfg, seqLen, scores.ScoredTokens) + (refCfg is null ? 0 : TokenScores.Flops(refCfg, seqLen, scores.ScoredTokens));
        ledger.AddTokens(scores.ScoredTokens * (reference is null ? 1 : 2));
        ledger.AddFlops(flops);

        var values = Enumerable.Range(0, docs.Count).Select(d => SelectionChoice.Of(o.Score, scores, d)).ToArray();
        int keep = SelectionChoice.KeepCount(docs.Count, o.KeepFraction);
        var kept = o.Sample ? SelectionChoice.Sample(values, keep, o.Seed) : SelectionChoice.Top(values, keep);
        var keptSet = kept.ToHashSet();
        try
        {
            Write(ds, docs, kept, tmp);
            var manifest = new SelectionManifest
            {
                Source = Path.GetFullPath(o.DataDir), Model = Path.GetFullPath(o.ModelDir),
                Reference = o.ReferenceDir is null ? null : Path.GetFullPath(o.ReferenceDir),
                Score = o.Score, KeepFraction = o.KeepFraction, Sample = o.Sample, Seed = o.Seed,
                Documents = docs.Count, KeptDocuments = kept.Length, Tokens = ds.TrainTokens, KeptTokens = kept.Sum(d => (long)docs[d].Length),
                ScoredTokens = scores.ScoredTokens, ScoringFlops = flops, Seconds = clock.Elapsed.TotalSeconds,
                PerDocument = [.. Enumerable.Range(0, docs.Count).Select(d => new SelectedDocument(d, docs[d].Length, values[d], Mean(scores.Loss[d], scores.Targets[d]),
                    scores.ReferenceLoss is null ? null : Mean(scores.ReferenceLoss[d], scores.Targets[d]),
                    scores.Entropy is null ? null : Mean(scores.Entropy[d], scores.Targets[d]), keptSet.Contains(d)))],
            };
            var manifestPath = Path.Combine(tmp, SelectionManifest.FileName);
            AtomicFile.WriteAllText(manifestPath, JsonSerializer.Serialize(manifest, SelectionManifest.Json) + "\n");
            foreach (var f in Directory.GetFiles(tmp).Order(StringComparer.Ordinal)) ledger.RecordStorage(f, f.EndsWith(".bin") ? StorageKind.Data : StorageKind.Other);
            var entry = ledger.Finish();
            entry.Write(Path.Combine(tmp, "ledger.json"));
            if (Directory.Exists(o.OutDir)) Directory.Delete(o.OutDir);   // Check: new or empty
            Directory.Move(tmp, o.OutDir);
            return new SelectResult(o.OutDir, manifest, entry);
        }
        finally
        {
            if (Directory.Exists(tmp)) Directory.Delete(tmp, recursive: true);
        }
    }

    static double Mean(double sum, int n) => sum / Math.Max(1, n);

    /// <summary>Refusals that need no model loaded: flags and the output folder.</summary>
    public static void Check(SelectOptions o)
    {
        if (!(o.KeepFraction > 0 && o.KeepFraction <= 1))
            throw new SeekSharpException($"--keep-fraction: expected a number in (0, 1], got {o.KeepFraction.ToString(System.Globalization.CultureInfo.InvariantCulture)}.");
        if (!SelectionChoice.Scores.Contains(o.Score))
            throw new SeekSharpException($"--score: expected one of {string.Join(", ", SelectionChoice.Scores)}, got '{o.Score}'.");
        if (o.Score == "excess-loss" && o.ReferenceDir is null)
            throw new SeekSharpException("--reference: --score excess-loss needs a reference model folder (a small model trained on held-out target data).");
        if (o.Score != "excess-loss" && o.ReferenceDir is not null)
            throw new SeekSharpException($"--reference: only --score excess-loss uses a reference model (got --score {o.Score}).");
        if (o.BatchSize < 1) throw new SeekSharpException($"--batch-size: expected 1 or more, got {o.BatchSize}.");
        if (o.Precision is not ("bf16" or "fp32")) throw new SeekSharpException($"--precision: expected bf16 or fp32, got \"{o.Precision}\".");
        if (Path.GetFullPath(o.OutDir).TrimEnd('/') == Path.GetFullPath(o.DataDir).TrimEnd('/'))
            throw new SeekSharpException($"--out {o.OutDir}: must differ from --data (the selection is a new dataset).");
        if (File.Exists(o.OutDir) || (Directory.Exists(o.OutDir) && Directory.EnumerateFileSystemEntries(o.OutDir).Any()))
            throw new SeekSharpException($"--out {o.OutDir}: must be a new or empty folder.");
    }

    /// <summary>The reference's config, after checking it is a model folder with the dataset's tokenizer.</summary>
    public static ModelConfig CheckReference(string refDir, TokenDataset ds)
    {
        var tokPath = Path.Combine(refDir, BpeTokenizer.FileNames[0]);
        if (!Directory.Exists(refDir)) throw new SeekSharpException($"--reference {refDir}: model folder not found.");
        if (!File.Exists(tokPath)) throw new SeekSharpException($"{tokPath}: --reference needs a tokenizer in its folder (not found).");
        var tok = BpeTokenizer.Load(refDir);
        if (tok.Hash != ds.TokenizerHash)
            throw new SeekSharpException($"{tokPath}: --reference has tokenizer {tok.Hash}, but the data ({Path.Combine(ds.Directory, DatasetManifest.FileName)}) uses {ds.TokenizerHash}; "
                + "train the reference on data tokenized with the same tokenizer.");
        var cfgPath = Path.Combine(refDir, ModelFiles.ConfigFile);
        var cfg = ModelConfig.Load(cfgPath);
        if (ds.VocabSize > cfg.VocabSize)
            throw new SeekSharpException($"{cfgPath}: the reference's vocab_size {cfg.VocabSize} is below the dataset's {ds.VocabSize}.");
        return cfg;
    }

    /// <summary>A model folder loaded for scoring: eval mode, frozen, at <paramref name="precision"/>.</summary>
    public static Transformer Load(string dir, string precision, Device device)
    {
        var model = ModelFiles.Load(dir, device);
        model.SetComputeType(Transformer.ComputeTypeOf(precision));
        model.eval();
        model.Freeze();
        return model;
    }

    /// <summary>Writes the kept training documents (in order) and the whole validation split as a dataset in <paramref name="dir"/>.</summary>
    public static void Write(TokenDataset ds, IReadOnlyList<DocumentSpan> docs, IReadOnlyList<int> kept, string dir)
    {
        var valDocs = DocumentScorer.Documents(ds.Val, ds.BosId, Path.Combine(ds.Directory, DatasetManifest.FileName));
        WriteDocuments(dir, ds, valDocs.Select(d => Read(ds.Val, d)), valDocs.Count > 0, kept.Select(i => Read(ds.Train, docs[i])), [ds.Directory]);
    }

    /// <summary>Writes a dataset of <paramref name="like"/>'s tokenizer from documents: validation ones first (the writer moves its
    /// last document to an empty split, and the last one is a training document), then training ones.</summary>
    public static void WriteDocuments(string dir, TokenDataset like, IEnumerable<int[]> val, bool anyVal, IEnumerable<int[]> train, IReadOnlyList<string> inputs)
    {
        var m = like.Manifest;
        using var writer = new TokenDatasetWriter(dir, m.VocabSize, m.TokenizerHash, m.BosId, m.EosId,
            anyVal ? m.ValFraction : 0, m.ShardTokens > 0 ? m.ShardTokens : 50_000_000);
        foreach (var d in val) writer.Add(d, pinnedVal: true);
        foreach (var d in train) writer.Add(d, pinnedVal: false);
        writer.Complete(inputs, 0, 0);
        BpeTokenizer.CopyFiles(like.Directory, dir);
    }

    /// <summary>The tokens of one document.</summary>
    public static int[] Read(TokenSplit split, DocumentSpan d)
    {
        var t = new int[d.Length];
        split.Read(d.Start, t);
        return t;
    }
    /// <summary>A hidden, unique folder next to <paramref name="outDir"/> (same file system, so the final rename is atomic).</summary>
    public static string TempSibling(string outDir)
    {
        var full = Path.GetFullPath(outDir).TrimEnd('/');
        var parent = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(parent);
        return Path.Combine(parent, $".{Path.GetFileName(full)}.tmp-{Environment.ProcessId}-{Guid.NewGuid():N}");
    }
}
