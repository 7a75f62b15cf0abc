// Design: the data side of a run's bill: which dataset a run read and, per source, how many documents and bytes went
// in and how many tokens came out, taken from the data folder's own manifests when the run starts (manifest.json of
// `seek data prepare`, else dataset.json of `seek data tokenize`), so the ledger says what the data was without
// re-reading it. "curated" means the documents passed `seek data prepare`'s filters and deduplication; "as given" that
// they were tokenized as they came. Each source's origin (synthetic, human-labelled, collected) is what its maker
// recorded beside it (DataOrigin); without that record it is unknown, and so is any share that needs it. What the data
// cost to acquire is what the same record declares (`acquisition_usd`); a synthetic source made by a program cost
// nothing beyond the compute of the run that made it (billed in that run's ledger), and any other source without a
// declaration leaves the run's acquisition cost unknown.

using System.Text.Json.Serialization;
using SeekSharp.Data;
using SeekSharp.Data.Curation;

namespace SeekSharp.Ledger;

/// <summary>The dataset a run read, per source.</summary>
public sealed record LedgerData
{
    /// <summary>The dataset folder as the run named it.</summary>
    [JsonPropertyName("dataset")] public required string Dataset { get; init; }
    /// <summary>"curated" (seek data prepare) or "as given" (seek data tokenize).</summary>
    [JsonPropertyName("treatment")] public required string Treatment { get; init; }
    [JsonPropertyName("sources")] public required List<LedgerDataSource> Sources { get; init; }

    /// <summary>Documents read from the sources; null when the dataset does not say (a tokenized one).</summary>
    [JsonIgnore] public long? DocumentsRead => Sources.All(s => s.DocumentsRead is not null) ? Sources.Sum(s => s.DocumentsRead!.Value) : null;
    /// <summary>Documents that made it into the dataset.</summary>
    [JsonIgnore] public long DocumentsKept => Sources.Sum(s => s.DocumentsKept);
    /// <summary>Bytes read from the sources; null when the dataset does not say.</summary>
    [JsonIgnore] public long? BytesRead => Sources.All(s => s.BytesRead is not null) ? Sources.Sum(s => s.BytesRead!.Value) : null;

    /// <summary>The data a `seek data prepare` run made, from its manifest.</summary>
    public static LedgerData Of(CurationManifest m, string dataset) => new()
    {
        Dataset = dataset, Treatment = Curated,
        Sources = [.. m.Sources.Select(s => new LedgerDataSource(s.Name, s.In, s.Kept, s.BytesIn, s.TrainTokens, s.ValTokens, DataOrigin.Read(s.Path),
            File.Exists(s.Path) ? DataOrigin.AcquisitionUsd(s.Path) : null))],
    };

    /// <summary>What acquiring the sources cost, declared; null when any non-synthetic source declares nothing.</summary>
    [JsonIgnore] public double? AcquisitionUsd =>
        Sources.All(s => s.AcquisitionUsd is not null || s.Origin == DataOrigin.Synthetic) ? Sources.Sum(s => s.AcquisitionUsd ?? 0) : null;

    /// <summary>Tokens in the dataset, both splits.</summary>
    [JsonIgnore] public long Tokens => Sources.Sum(s => s.TrainTokens + s.ValTokens);

    /// <summary>The share of the tokens from sources of <paramref name="origin"/> (DataOrigin); null when any source's origin is unknown.</summary>
    public double? ShareOf(string origin) => Sources.Any(s => s.Origin is null) || Tokens == 0 ? null
        : (double)Sources.Where(s => s.Origin == origin).Sum(s => s.TrainTokens + s.ValTokens) / Tokens;

    /// <summary>The share of the tokens that passed `seek data prepare`'s curation: 1 or 0, by how the dataset was made.</summary>
    [JsonIgnore] public double CuratedShare => Treatment == Curated ? 1 : 0;

    public const string Curated = "curated";
    public const string AsGiven = "as given";

    /// <summary>The data of the dataset folder <paramref name="dataDir"/>, from its manifests; null when it has neither.</summary>
    public static LedgerData? Of(string dataDir)
    {
        var curation = Path.Combine(dataDir, CurationManifest.FileName);
        if (File.Exists(curation)) return Of(CurationManifest.Load(curation), dataDir);
        var tokenized = Path.Combine(dataDir, DatasetManifest.FileName);
        if (!File.Exists(tokenized)) return null;
        var d = DatasetManifest.Load(tokenized);
        // dataset.json counts documents and tokens per split, not per input file: one source named by its inputs.
        var name = d.Inputs.Count == 0 ? Path.GetFileName(Path.GetFullPath(dataDir)) : string.Join(", ", d.Inputs.Select(Path.GetFileName));
        return new LedgerData
        {
            Dataset = dataDir, Treatment = AsGiven,
            Sources = [new LedgerDataSource(name, null, d.Train.Documents + d.Val.Documents, null, d.Train.Tokens, d.Val.Tokens,
                d.Inputs.Count == 0 ? null : DataOrigin.Common(d.Inputs), d.Inputs.Count == 0 ? null : DataOrigin.AcquisitionUsd(d.Inputs))],
        };
    }
}

/// <summary>One source of a dataset: documents read and kept, bytes read, tokens in each split, origin and declared acquisition cost.</summary>
public sealed record LedgerDataSource(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("documents_read")] long? DocumentsRead,
    [property: JsonPropertyName("documents_kept")] long DocumentsKept,
    [property: JsonPropertyName("bytes_read")] long? BytesRead,
    [property: JsonPropertyName("train_tokens")] long TrainTokens,
    [property: JsonPropertyName("val_tokens")] long ValTokens,
    [property: JsonPropertyName("origin")] string? Origin = null,
    [property: JsonPropertyName("acquisition_usd"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] double? AcquisitionUsd = null);
