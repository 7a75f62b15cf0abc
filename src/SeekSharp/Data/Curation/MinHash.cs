namespace SeekSharp.Data.Curation;

// MinHash signatures (Broder 1997) over word shingles: the probability that two documents agree in one
// signature slot equals the Jaccard similarity of their shingle sets, so the fraction of agreeing slots
// estimates it with standard error sqrt(J(1-J)/P) (≤ 0.044 for P = 128). Shingles are k consecutive
// normalized words (letters and digits, lowercased: see TextHash), hashed to 64 bits; each of the P
// "permutations" is a universal hash h_i(x) = (a_i·x + b_i) mod (2^61 - 1) with a_i, b_i drawn from a
// fixed-seed SplitMix64 stream, so signatures are identical across runs and machines. The Mersenne
// prime makes the modulo two shifts and an add instead of a division.

/// <summary>Computes MinHash signatures; immutable after construction and safe to share between threads.</summary>
public sealed class MinHash
{
    const ulong Prime = (1UL << 61) - 1;
    readonly ulong[] a, b;

    /// <param name="numPermutations">Signature length P (default 128).</param>
    /// <param name="shingle">Words per shingle (default 5).</param>
    /// <param name="seed">Seed of the permutation coefficients; signatures compare only under one seed.</param>
    public MinHash(int numPermutations = 128, int shingle = 5, ulong seed = 1)
    {
        if (numPermutations < 1) throw new SeekSharpException($"MinHash permutations: expected 1 or more, got {numPermutations}.");
        if (shingle < 1) throw new SeekSharpException($"MinHash shingle: expected 1 or more words, got {shingle}.");
        NumPermutations = numPermutations;
        Shingle = shingle;
        a = new ulong[numPermutations];
        b = new ulong[numPermutations];
        ulong state = seed;
        for (int i = 0; i < numPermutations; i++)
        {
            a[i] = 1 + Next(ref state) % (Prime - 1); // a ≠ 0, or the permutation collapses to a constant
            b[i] = Next(ref state) % Prime;
        }
    }

    public int NumPermutations { get; }
    public int Shingle { get; }

    /// <summary>The signature of <paramref name="text"/>. A text with fewer words than a shingle is one
    /// shingle of all its words; a text with no words gets all slots ulong.MaxValue (check
    /// <see cref="IsEmpty"/>: such signatures all look identical).</summary>
    public ulong[] Signature(string text)
    {
        var sig = new ulong[NumPermutations];
        Array.Fill(sig, ulong.MaxValue);
        foreach (var x in Shingles(text, Shingle))
        {
            ulong v = x % Prime;
            for (int i = 0; i < sig.Length; i++)
            {
                ulong h = MulAddMod(a[i], v, b[i]);
                if (h < sig[i]) sig[i] = h;
            }
        }
        return sig;
    }

    /// <summary>True for the signature of a text without words.</summary>
    public static bool IsEmpty(ulong[] sig) => sig.Length > 0 && Array.TrueForAll(sig, v => v == ulong.MaxValue);

    /// <summary>Fraction of equal slots: the estimated Jaccard similarity of the two shingle sets.</summary>
    public static double EstimateJaccard(ulong[] x, ulong[] y)
    {
        if (x.Length != y.Length || x.Length == 0)
            throw new ArgumentException($"signatures differ in length ({x.Length} vs {y.Length}) or are empty");
        int eq = 0;
        for (int i = 0; i < x.Length; i++) if (x[i] == y[i]) eq++;
        return (double)eq / x.Length;
    }

    /// <summary>The exact Jaccard similarity of two texts' shingle sets (hashed, so exact up to 64-bit
    /// collisions); for tests and audits, as it keeps both sets in memory.</summary>
    public static double ExactJaccard(string x, string y, int shingle)
    {
        var sx = new HashSet<ulong>(Shingles(x, shingle));
        var sy = new HashSet<ulong>(Shingles(y, shingle));
        if (sx.Count == 0 && sy.Count == 0) return 1;
        int inter = sx.Count(sy.Contains);
        return (double)inter / (sx.Count + sy.Count - inter);
    }

    /// <summary>64-bit hashes of the word k-shingles of <paramref name="text"/>.</summary>
    internal static List<ulong> Shingles(string text, int k)
    {
        var words = TextHash.NormalWords(text);
        var result = new List<ulong>(Math.Max(1, words.Count - k + 1));
        if (words.Count == 0) return result;
        var w = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(words);
        if (w.Length <= k) { result.Add(TextHash.Combine(w)); return result; }
        for (int i = 0; i + k <= w.Length; i++) result.Add(TextHash.Combine(w.Slice(i, k)));
        return result;
    }

    /// <summary>(a·x + b) mod 2^61-1 for a, x, b &lt; 2^61: fold the 122-bit product at bit 61.</summary>
    static ulong MulAddMod(ulong a, ulong x, ulong b)
    {
        UInt128 p = (UInt128)a * x + b;
        ulong r = (ulong)(p & Prime) + (ulong)(p >> 61);
        r = (r & Prime) + (r >> 61);
        return r >= Prime ? r - Prime : r;
    }

    static ulong Next(ref ulong state) => TextHash.Mix(state += 0x9E3779B97F4A7C15UL);
}
