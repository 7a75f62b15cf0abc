namespace SeekSharp.Data.Curation;

// Locality-sensitive hashing over MinHash signatures (Leskovec, Rajaraman & Ullman, "Mining of Massive
// Datasets", ch. 3.4). The first b·r slots are cut into b bands of r rows; two documents become
// candidates when any band is identical, which happens with probability 1 - (1 - J^r)^b: an S-curve
// in the Jaccard similarity J whose steepest point is near t ≈ (1/b)^(1/r).
//
// Choosing b and r for a target threshold: with P = 128 the only splits using every slot near 0.8 are
// b=8·r=16 (t ≈ 0.88; finds only 20 % of pairs at J = 0.8) and b=16·r=8 (t ≈ 0.71). We therefore also
// allow b·r < P: for each r we take b = ⌊P/r⌋ and pick the split whose t is nearest the target, which
// for 0.8 is b = 11, r = 11 (t ≈ 0.804; 121 slots banded, all 128 used for the estimate). Candidate
// probability: J = 0.7 → 20 %, 0.8 → 63 %, 0.85 → 87 %, 0.9 → 98 %, 0.95 → 99.99 %. False positives
// cost only a check, because every candidate is confirmed by its estimated Jaccard (all P slots) ≥ the
// threshold; false negatives near the threshold are the price of a small index. A caller who needs more
// recall at the threshold passes a lower banding target, or explicit (bands, rows).
//
// Memory per indexed document: the signature truncated to 32 bits per slot (4·P bytes = 512 B for 128;
// a spurious match of two 32-bit values has probability 2^-32, negligible next to the estimate's own
// noise), plus per band one dictionary entry (~24 B) and one chain entry (8 B): ≈ 0.9 KiB with the
// defaults, i.e. about 0.9 GB per million kept documents. Single-threaded (see NearDuplicateDeduplicator).

/// <summary>An LSH index of MinHash signatures that confirms candidates by estimated Jaccard.</summary>
public sealed class LshIndex
{
    readonly Dictionary<ulong, int> heads = [];   // band key → newest chain entry
    readonly List<(int Slot, int Next)> chain = [];
    uint[] sigs = new uint[1024];
    readonly List<int> ids = [];
    int[] stamp = new int[64];                      // last query that visited a slot, to check each once
    int query;
    int width = -1;

    /// <summary>Explicit banding: <paramref name="bands"/> × <paramref name="rows"/> must not exceed the signature length.</summary>
    /// <param name="threshold">Estimated Jaccard a candidate needs to count as a duplicate.</param>
    public LshIndex(int bands, int rows, double threshold = 0.8)
    {
        if (bands < 1 || rows < 1) throw new SeekSharpException($"LSH banding: expected bands and rows of 1 or more, got {bands}×{rows}.");
        if (!(threshold > 0 && threshold <= 1)) throw new SeekSharpException($"LSH threshold: expected a Jaccard similarity in (0, 1], got {threshold}.");
        Bands = bands;
        Rows = rows;
        Threshold = threshold;
    }

    /// <summary>Banding chosen for <paramref name="threshold"/> (see the note atop this file).</summary>
    public LshIndex(double threshold = 0.8, int numPermutations = 128)
        : this(ChooseBanding(threshold, numPermutations).Bands, ChooseBanding(threshold, numPermutations).Rows, threshold) { }

    public int Bands { get; }
    public int Rows { get; }
    public double Threshold { get; }

    /// <summary>Documents indexed.</summary>
    public int Count => ids.Count;

    /// <summary>The S-curve's steep point (1/b)^(1/r).</summary>
    public static double SCurveThreshold(int bands, int rows) => Math.Pow(1.0 / bands, 1.0 / rows);

    /// <summary>Probability that a pair with Jaccard <paramref name="j"/> shares a band: 1 - (1 - j^r)^b.</summary>
    public static double CandidateProbability(double j, int bands, int rows) => 1 - Math.Pow(1 - Math.Pow(j, rows), bands);

    /// <summary>For each r, b = ⌊P/r⌋; the (b, r) whose S-curve threshold is nearest the target (ties: more slots).</summary>
    public static (int Bands, int Rows) ChooseBanding(double threshold, int numPermutations)
    {
        if (numPermutations < 1) throw new SeekSharpException($"LSH permutations: expected 1 or more, got {numPermutations}.");
        (int b, int r) best = (numPermutations, 1);
        double bestErr = double.MaxValue;
        for (int r = 1; r <= numPermutations; r++)
        {
            int b = numPermutations / r;
            double err = Math.Abs(SCurveThreshold(b, r) - threshold);
            if (err < bestErr - 1e-12 || (Math.Abs(err - bestErr) <= 1e-12 && b * r > best.b * best.r)) (best, bestErr) = ((b, r), err);
        }
        return best;
    }

    /// <summary>True when an indexed document shares a band with <paramref name="sig"/> and its estimated
    /// Jaccard is at least <see cref="Threshold"/>; <paramref name="candidateId"/> is then the first such
    /// document found (bands in order, newest first within a bucket). Does not add <paramref name="sig"/>.</summary>
    public bool TryFindDuplicate(ulong[] sig, out int candidateId)
    {
        CheckWidth(sig);
        candidateId = -1;
        if (ids.Count == 0) return false;
        query++;
        int need = (int)Math.Ceiling(Threshold * sig.Length - 1e-9);
        for (int band = 0; band < Bands; band++)
        {
            if (!heads.TryGetValue(BandKey(sig, band), out int e)) continue;
            for (; e >= 0; e = chain[e].Next)
            {
                int slot = chain[e].Slot;
                if (stamp[slot] == query) continue;
                stamp[slot] = query;
                if (Agreements(sig, slot) >= need) { candidateId = ids[slot]; return true; }
            }
        }
        return false;
    }

    /// <summary>Indexes <paramref name="sig"/> under <paramref name="id"/> (ids need not be unique or dense).</summary>
    public void Add(int id, ulong[] sig)
    {
        CheckWidth(sig);
        if (width < 0) width = sig.Length;
        int slot = ids.Count;
        ids.Add(id);
        if ((slot + 1) * width > sigs.Length) Array.Resize(ref sigs, Math.Max(sigs.Length * 2, (slot + 1) * width));
        if (slot >= stamp.Length) Array.Resize(ref stamp, stamp.Length * 2);
        for (int i = 0; i < width; i++) sigs[slot * width + i] = (uint)sig[i];
        for (int band = 0; band < Bands; band++)
        {
            ref int head = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(heads, BandKey(sig, band), out bool existed);
            chain.Add((slot, existed ? head : -1));
            head = chain.Count - 1;
        }
    }

    int Agreements(ulong[] sig, int slot)
    {
        var stored = sigs.AsSpan(slot * width, width);
        int eq = 0;
        for (int i = 0; i < width; i++) if ((uint)sig[i] == stored[i]) eq++;
        return eq;
    }

    ulong BandKey(ulong[] sig, int band)
    {
        ulong h = TextHash.Mix((ulong)band + 0x51ED27UL);
        for (int i = band * Rows; i < (band + 1) * Rows; i++) h = TextHash.Mix(h ^ sig[i]);
        return h;
    }

    void CheckWidth(ulong[] sig)
    {
        if (sig.Length < Bands * Rows)
            throw new ArgumentException($"signature has {sig.Length} slots, fewer than {Bands}×{Rows} bands×rows");
        if (width >= 0 && sig.Length != width)
            throw new ArgumentException($"signature has {sig.Length} slots, the index holds signatures of {width}");
    }
}
