namespace SeekSharp.Data.Curation;

// Near-duplicate removal: MinHash signatures of word shingles, an LSH index to find candidates, and a
// check of the estimated Jaccard before calling a document a duplicate (see MinHash and LshIndex for the
// maths and the memory per document: ≈ 0.9 KiB plus the origin string with the defaults). Only documents
// that were kept are indexed, so a cluster of near-copies keeps its first member and the index stays the
// size of the output. Texts without any word are never duplicates here (exact dedup handles empties).
//
// Single-threaded by design: the pipeline calls it from one thread in input order, which makes "which
// copy survives" deterministic. The signature is the expensive part and is thread-safe (MinHash), so a
// parallel pipeline could compute signatures ahead and feed IsDuplicate(signature, ...) in order.

/// <summary>Flags documents whose word shingles overlap an earlier kept document by ≥ a Jaccard threshold.</summary>
public sealed class NearDuplicateDeduplicator
{
    readonly List<string> origins = [];

    /// <param name="threshold">Jaccard similarity at or above which a document is a near duplicate.</param>
    /// <param name="shingle">Words per shingle.</param>
    /// <param name="permutations">MinHash signature length.</param>
    public NearDuplicateDeduplicator(double threshold = 0.8, int shingle = 5, int permutations = 128)
    {
        MinHash = new MinHash(permutations, shingle);
        Index = new LshIndex(threshold, permutations);
    }

    public MinHash MinHash { get; }
    public LshIndex Index { get; }

    /// <summary>Documents remembered (kept so far).</summary>
    public int Count => origins.Count;

    /// <summary>True when <paramref name="text"/> nearly duplicates an earlier kept document, whose origin is
    /// then <paramref name="firstOrigin"/>; otherwise indexes it under <paramref name="origin"/> and returns false.</summary>
    public bool IsDuplicate(string text, string origin, out string firstOrigin) =>
        IsDuplicate(MinHash.Signature(text), origin, out firstOrigin);

    /// <summary>As <see cref="IsDuplicate(string, string, out string)"/> with a signature from <see cref="MinHash"/>.</summary>
    public bool IsDuplicate(ulong[] signature, string origin, out string firstOrigin)
    {
        firstOrigin = origin;
        if (MinHash.IsEmpty(signature)) return false;
        if (Index.TryFindDuplicate(signature, out int id)) { firstOrigin = origins[id]; return true; }
        Index.Add(origins.Count, signature);
        origins.Add(origin);
        return false;
    }
}
