namespace SeekSharp.Data.Curation;

// Stable 64-bit hashes of words and word sequences, shared by the quality filter (line and n-gram
// repetition) and MinHash (shingles). string.GetHashCode is randomized per process, so it would make
// dedup decisions differ between runs of the same input; these hashes are a fixed function of the text.
// A word's "normal form" is its letters and digits, lowercased: "The," and "the" are the same word for
// repetition and shingling, as in Gopher's and datatrove's normalization.

internal static class TextHash
{
    const ulong FnvOffset = 14695981039346656037UL;
    const ulong FnvPrime = 1099511628211UL;

    /// <summary>SplitMix64 finalizer: spreads FNV's weak low bits so band keys and buckets are uniform.</summary>
    public static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Hash of a word's normal form; returns the normal form's length (0: no letters or digits).</summary>
    public static int NormalWord(ReadOnlySpan<char> word, out ulong hash)
    {
        ulong h = FnvOffset;
        int n = 0;
        foreach (var c in word)
        {
            if (!char.IsLetterOrDigit(c)) continue;
            h = (h ^ char.ToLowerInvariant(c)) * FnvPrime;
            n++;
        }
        hash = Mix(h);
        return n;
    }

    /// <summary>Hash of a line with surrounding whitespace ignored (exact characters otherwise).</summary>
    public static ulong Line(ReadOnlySpan<char> line)
    {
        ulong h = FnvOffset;
        foreach (var c in line.Trim()) h = (h ^ c) * FnvPrime;
        return Mix(h);
    }

    /// <summary>Order-sensitive combination of word hashes (an n-gram key).</summary>
    public static ulong Combine(ReadOnlySpan<ulong> words)
    {
        ulong h = 0x9E3779B97F4A7C15UL;
        foreach (var w in words) h = Mix(h ^ w) + 0x9E3779B97F4A7C15UL;
        return h;
    }

    /// <summary>Splits text into whitespace-separated words and returns the hashes of their normal forms,
    /// skipping words with no letters or digits (pure punctuation).</summary>
    public static List<ulong> NormalWords(ReadOnlySpan<char> text)
    {
        var list = new List<ulong>(text.Length / 6 + 1);
        int i = 0;
        while (i < text.Length)
        {
            while (i < text.Length && char.IsWhiteSpace(text[i])) i++;
            int start = i;
            while (i < text.Length && !char.IsWhiteSpace(text[i])) i++;
            if (i > start && NormalWord(text[start..i], out var h) > 0) list.Add(h);
        }
        return list;
    }
}
