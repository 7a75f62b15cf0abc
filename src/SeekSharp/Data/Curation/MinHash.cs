using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SeekSharp.Data.Curation;

// MinHash signatures (Broder 1997) over word shingles: the probability that two documents agree in one
// signature slot equals the Jaccard similarity of their shingle sets, so the fraction of agreeing slots
// estimates it with standard error sqrt(J(1-J)/P) (≤ 0.044 for P = 128). Shingles are k consecutive
// normalized words (letters and digits, lowercased: see TextHash), hashed to 64 bits; each of the P
// "permutations" is a universal hash h_i(x) = (a_i·x + b_i) mod (2^61 - 1) with a_i, b_i drawn from a
// fixed-seed SplitMix64 stream, so signatures are identical across runs and machines. The Mersenne
// prime makes the modulo two shifts and an add instead of a division.
//
// Speed: P hashes per shingle are most of the cost of dedup (128 × ~3 M shingles for the shared corpora).
// The SIMD path computes the very same (a·x + b) mod (2^61 - 1) for 8 (AVX-512) or 4 (AVX2) permutations
// at once: there is no 64×64→128-bit vector multiply, so a and x are split into 32-bit halves, the four
// 32×32→64 products are folded with 2^61 ≡ 1 and 2^64 ≡ 8 (mod 2^61 - 1), and the result is reduced to
// [0, 2^61 - 1) like the scalar code, so signatures are bit-identical on every path (tested). Loops run
// permutation-block-outer, shingle-inner, so a block's coefficients and running minimum stay in registers.

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
    public ulong[] Signature(string text) =>
        Signature(text, Vector512.IsHardwareAccelerated ? 512 : Vector256.IsHardwareAccelerated ? 256 : 0);

    /// <summary>The signature computed with SIMD vectors of <paramref name="simdBits"/> (512, 256, or 0 for
    /// scalar only); every choice gives the same signature, which the tests check.</summary>
    internal ulong[] Signature(string text, int simdBits)
    {
        var sig = new ulong[NumPermutations];
        Array.Fill(sig, ulong.MaxValue);
        var shingles = Shingles(text, Shingle);
        var x = CollectionsMarshal.AsSpan(shingles);
        for (int j = 0; j < x.Length; j++) x[j] %= Prime;
        int done = simdBits switch { 512 => MinVector512(x, sig), 256 => MinVector256(x, sig), _ => 0 };
        MinScalar(x, sig, done);
        return sig;
    }

    // Permutations from..P-1 over the shingle hashes x (already reduced mod the prime).
    void MinScalar(ReadOnlySpan<ulong> x, ulong[] sig, int from)
    {
        for (int i = from; i < sig.Length; i++)
        {
            ulong m = sig[i], ai = a[i], bi = b[i];
            foreach (var v in x)
            {
                ulong h = MulAddMod(ai, v, bi);
                if (h < m) m = h;
            }
            sig[i] = m;
        }
    }

    // Returns how many leading permutations it did (whole vectors only).
    int MinVector512(ReadOnlySpan<ulong> x, ulong[] sig)
    {
        int lanes = Vector512<ulong>.Count, end = sig.Length - sig.Length % lanes;
        var lo32 = Vector512.Create(0xFFFF_FFFFUL);
        for (int i = 0; i < end; i += lanes)
        {
            var av = Vector512.Create<ulong>(a.AsSpan(i, lanes));
            var (a0, a1, bv) = (av & lo32, av >>> 32, Vector512.Create<ulong>(b.AsSpan(i, lanes)));
            var m = Vector512.Create<ulong>(sig.AsSpan(i, lanes));
            foreach (var v in x)
            {
                var (v0, v1) = (Vector512.Create(v & 0xFFFF_FFFFUL), Vector512.Create(v >> 32));
                var mid = Mul32(a0, v1) + Mul32(a1, v0);
                var lo = Mul32(a0, v0);
                var sum = (Mul32(a1, v1) << 3) + (mid >>> 29) + ((mid & Vector512.Create(0x1FFF_FFFFUL)) << 32)
                        + (lo >>> 61) + (lo & Vector512.Create(Prime)) + bv;
                var r = (sum & Vector512.Create(Prime)) + (sum >>> 61);
                m = Vector512.Min(m, Vector512.Min(r, r - Vector512.Create(Prime))); // r - P wraps above r when r < P
            }
            m.CopyTo(sig.AsSpan(i, lanes));
        }
        return end;
    }

    int MinVector256(ReadOnlySpan<ulong> x, ulong[] sig)
    {
        int lanes = Vector256<ulong>.Count, end = sig.Length - sig.Length % lanes;
        var lo32 = Vector256.Create(0xFFFF_FFFFUL);
        for (int i = 0; i < end; i += lanes)
        {
            var av = Vector256.Create<ulong>(a.AsSpan(i, lanes));
            var (a0, a1, bv) = (av & lo32, av >>> 32, Vector256.Create<ulong>(b.AsSpan(i, lanes)));
            var m = Vector256.Create<ulong>(sig.AsSpan(i, lanes));
            foreach (var v in x)
            {
                var (v0, v1) = (Vector256.Create(v & 0xFFFF_FFFFUL), Vector256.Create(v >> 32));
                var mid = Mul32(a0, v1) + Mul32(a1, v0);
                var lo = Mul32(a0, v0);
                var sum = (Mul32(a1, v1) << 3) + (mid >>> 29) + ((mid & Vector256.Create(0x1FFF_FFFFUL)) << 32)
                        + (lo >>> 61) + (lo & Vector256.Create(Prime)) + bv;
                var r = (sum & Vector256.Create(Prime)) + (sum >>> 61);
                m = Vector256.Min(m, Vector256.Min(r, r - Vector256.Create(Prime)));
            }
            m.CopyTo(sig.AsSpan(i, lanes));
        }
        return end;
    }

    // Why the folding above is exact: with a = a1·2^32 + a0 and v = v1·2^32 + v0 (a, v < 2^61, so a1, v1 < 2^29),
    // a·v = a1v1·2^64 + mid·2^32 + a0v0 where mid = a1v0 + a0v1 < 2^62. Modulo 2^61 - 1: a1v1·2^64 ≡ 8·a1v1,
    // mid·2^32 = (mid >> 29)·2^61 + (mid & (2^29-1))·2^32 ≡ (mid >> 29) + (mid & (2^29-1))·2^32, and
    // a0v0 ≡ (a0v0 >> 61) + (a0v0 & (2^61-1)). Every term is below 2^61, so with b the sum stays below 2^63,
    // and one fold (sum & p) + (sum >> 61) < p + 4 leaves at most one subtraction of p.

    // Unsigned 32×32→64-bit products of the low halves of each lane (vpmuludq where the CPU has it).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<ulong> Mul32(Vector512<ulong> x, Vector512<ulong> y) =>
        Avx512F.IsSupported ? Avx512F.Multiply(x.AsUInt32(), y.AsUInt32()) : (x & Vector512.Create(0xFFFF_FFFFUL)) * (y & Vector512.Create(0xFFFF_FFFFUL));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<ulong> Mul32(Vector256<ulong> x, Vector256<ulong> y) =>
        Avx2.IsSupported ? Avx2.Multiply(x.AsUInt32(), y.AsUInt32()) : (x & Vector256.Create(0xFFFF_FFFFUL)) * (y & Vector256.Create(0xFFFF_FFFFUL));

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
