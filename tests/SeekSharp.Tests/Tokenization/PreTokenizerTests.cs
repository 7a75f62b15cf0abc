using System.Text;
using SeekSharp.Tokenization;

namespace SeekSharp.Tests.Tokenization;

/// <summary>The hand-written split must cut exactly where GPT-4's regex (<see cref="ByteLevel.Pattern"/>) cuts.</summary>
public class PreTokenizerTests
{
    static readonly System.Text.RegularExpressions.Regex Reference =
        new(ByteLevel.Pattern, System.Text.RegularExpressions.RegexOptions.CultureInvariant);

    static List<string> ByRegex(string text) => [.. Reference.Matches(text).Select(m => m.Value)];

    static List<string> ByScanner(string text)
    {
        var pieces = new List<string>();
        for (int at = 0, n; at < text.Length; at += n)
        {
            n = PreTokenizer.Next(text, at);
            Assert.InRange(n, 1, text.Length - at);
            pieces.Add(text.Substring(at, n));
        }
        return pieces;
    }

    static void Same(string text)
    {
        var expected = ByRegex(text);
        var actual = ByScanner(text);
        if (!expected.SequenceEqual(actual))
        {
            int i = 0;
            while (i < expected.Count && i < actual.Count && expected[i] == actual[i]) i++;
            Assert.Fail($"split differs at piece {i} of {Escape(text)}: regex {Escape(expected.ElementAtOrDefault(i))}, scanner {Escape(actual.ElementAtOrDefault(i))}");
        }
    }

    static string Escape(string? s) => s is null ? "(none)" : "\"" + string.Concat(s.Select(c => c is >= ' ' and < '\x7f' ? c.ToString() : $"\\u{(int)c:X4}")) + "\"";

    [Theory]
    [InlineData("Hello world, it's 2024!\nNew line\r\n\r\n  indented   text  ")]
    [InlineData("I'LL say we'Re fine; THEY'VE gone. 'tis '")]
    [InlineData("12345 1 22 333 4444 ½² Ⅻ")]
    [InlineData("   \n\n   x \t\ty\u00A0z  ")]
    [InlineData("--==>> ... !!!\n\n??")]
    [InlineData("")]
    [InlineData(" ")]
    [InlineData("'")]
    [InlineData("emoji 😀😀 and 中文字 text")]
    public void HandPickedTextsSplitLikeTheRegex(string text) => Same(text);

    [Fact]
    public void RandomStringsOverATrickyAlphabetSplitLikeTheRegex()
    {
        const string alphabet = "aZé ß'sStTrReEvVmMlLdDſK\t\n\r \u00A0\u2028\u0085\u000B\u000C01239²½Ⅻ.,!?-—_\u200B中\ud83d\ude00\ud800";
        var rng = new Random(7);
        var sb = new StringBuilder();
        for (int trial = 0; trial < 20_000; trial++)
        {
            sb.Clear();
            int len = rng.Next(0, 24);
            for (int i = 0; i < len; i++) sb.Append(alphabet[rng.Next(alphabet.Length)]);
            Same(sb.ToString());
        }
    }

    [Fact]
    public void EveryCodeUnitAfterAnApostropheSplitsLikeTheRegex()
    {
        // The contractions are case-insensitive in the regex; this pins down which characters count as which letter.
        for (int c = 0; c <= char.MaxValue; c++)
        {
            var ch = (char)c;
            foreach (var text in new[] { $"'{ch}", $"'{ch}x", $"'{ch}e", $"'{ch}l", $"'r{ch}", $"'v{ch}", $"'l{ch}", $"{ch}'s", $"x{ch}y", $"{ch}{ch} 1" })
            {
                var expected = ByRegex(text);
                var actual = ByScanner(text);
                if (!expected.SequenceEqual(actual)) Same(text);   // the detailed message, only on failure
            }
        }
    }

    [Fact]
    public void TheSharedCorporaSplitLikeTheRegex()
    {
        var corpora = SharedCorpora.Path();
        var files = Directory.GetFiles(Path.Combine(corpora, "sotu")).Order(StringComparer.Ordinal).Take(60)
            .Concat(Directory.GetDirectories(Path.Combine(corpora, "spam-assassin")).Order(StringComparer.Ordinal)
                .SelectMany(d => Directory.GetFiles(d).Order(StringComparer.Ordinal).Take(80)));
        int checkedFiles = 0;
        foreach (var f in files)
        {
            // Latin-1 keeps every byte of the mail (8-bit headers, stray control characters) as one character.
            Same(Encoding.Latin1.GetString(File.ReadAllBytes(f)));
            Same(File.ReadAllText(f));
            checkedFiles++;
        }
        Assert.True(checkedFiles > 300, $"only {checkedFiles} corpus files were checked");
    }
}
