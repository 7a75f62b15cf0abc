using System.Globalization;

namespace SeekSharp.Tokenization;

// Why not the regex: splitting was most of the tokenizer's time in `seek bench data` (the compiled regex
// tries up to seven alternatives per pre-token, backtracking through whitespace runs). This scanner makes
// the same cuts in one pass with a character-class table, the way llama.cpp hand-writes its pre-tokenizers.
// It must stay byte-for-byte the regex's: tests compare the two on the shared corpora, on random strings
// over a tricky alphabet, and on every UTF-16 code unit after an apostrophe (the (?i:...) contractions).
//
// The regex, alternative by alternative, at position i (the first that matches wins; one always does):
//   1 (?i:'s|'t|'re|'ve|'m|'ll|'d)   an apostrophe and a contraction, case-insensitive
//   2 [^\r\n\p{L}\p{N}]?\p{L}+       letters, with one leading character that is not CR/LF, letter or digit
//   3 \p{N}{1,3}                     up to three digits
//   4  ?[^\s\p{L}\p{N}]+[\r\n]*      punctuation (an optional leading space), then any CR/LF
//   5 \s*[\r\n]+                     whitespace up to and including the last CR/LF of the run
//   6 \s+(?!\S)                      the whitespace run but its last character (all of it at the end of text)
//   7 \s+                            a single whitespace character before a non-space
// .NET's regex classifies UTF-16 code units one at a time (a surrogate is neither letter nor digit), \s is
// char.IsWhiteSpace, and \p{L} / \p{N} are the Unicode categories, so a 64 KiB table holds the whole truth.

/// <summary>Splits text into pre-tokens exactly like <see cref="ByteLevel.Pattern"/> (GPT-4's split), without a regex.</summary>
internal static class PreTokenizer
{
    const byte Other = 0, Letter = 1, Number = 2, Space = 3, Newline = 4;   // Space and Newline are both \s

    static readonly byte[] Classes = BuildClasses();

    /// <summary>The length of the pre-token that starts at <paramref name="i"/> (at least 1).</summary>
    public static int Next(ReadOnlySpan<char> t, int i)
    {
        var c = t[i];
        var k = Classes[c];
        int n = t.Length;
        if (c == '\'' && Contraction(t, i + 1) is > 0 and var m) return m + 1;                  // 1
        if (k == Letter) return Letters(t, i + 1) - i;                                         // 2
        if (k != Newline && k != Number && i + 1 < n && Classes[t[i + 1]] == Letter) return Letters(t, i + 2) - i;
        if (k == Number)                                                                       // 3
        {
            int j = i + 1;
            while (j < n && j < i + 3 && Classes[t[j]] == Number) j++;
            return j - i;
        }
        int s = c == ' ' && i + 1 < n && Classes[t[i + 1]] == Other ? i + 1 : i;               // 4
        if (Classes[t[s]] == Other)
        {
            int j = s + 1;
            while (j < n && Classes[t[j]] == Other) j++;
            while (j < n && Classes[t[j]] == Newline) j++;
            return j - i;
        }
        int end = i, lastNewline = -1;                                                         // whitespace
        for (; end < n && Classes[t[end]] >= Space; end++)
            if (Classes[t[end]] == Newline) lastNewline = end;
        if (lastNewline >= 0) return lastNewline + 1 - i;                                      // 5
        if (end == n || end - i == 1) return end - i;                                          // 6 at the end, 7
        return end - 1 - i;                                                                    // 6
    }

    static int Letters(ReadOnlySpan<char> t, int j)
    {
        while (j < t.Length && Classes[t[j]] == Letter) j++;
        return j;
    }

    // The contraction after an apostrophe at j: its length (1 or 2), or 0.
    static int Contraction(ReadOnlySpan<char> t, int j)
    {
        if (j >= t.Length) return 0;
        var a = Fold(t[j]);
        if (a is 's' or 't' or 'm' or 'd') return 1;
        if (j + 1 >= t.Length) return 0;
        var b = Fold(t[j + 1]);
        return (a, b) is ('r', 'e') or ('v', 'e') or ('l', 'l') ? 2 : 0;
    }

    // The ASCII letter a character equals case-insensitively, as the regex's (?i) sees it under
    // CultureInvariant: only the two ASCII cases (not even LATIN SMALL LETTER LONG S for 's'; a test checks
    // every UTF-16 code unit against the regex).
    static char Fold(char c) => c is >= 'A' and <= 'Z' ? (char)(c | 0x20) : c;

    static byte[] BuildClasses()
    {
        var table = new byte[char.MaxValue + 1];
        for (int c = 0; c <= char.MaxValue; c++)
        {
            var ch = (char)c;
            table[c] = ch is '\r' or '\n' ? Newline
                : char.IsWhiteSpace(ch) ? Space
                : CharUnicodeInfo.GetUnicodeCategory(ch) switch
                {
                    UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
                        or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter => Letter,
                    UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber => Number,
                    _ => Other,
                };
        }
        return table;
    }
}
