using System.Text;
using SeekSharp.Tokenization;

namespace SeekSharp.Tests.Tokenization;

/// <summary>
/// One small tokenizer shared by the tests (training is the slow part). The corpus is generated from
/// a fixed seed: made-up words, numbers, punctuation, some non-ASCII, so merges cover several kinds
/// of pre-token.
/// </summary>
internal static class TokenizerFixture
{
    public const int VocabSize = 256 + 400 + 10;

    private static readonly Lazy<BpeTokenizer> Shared = new(() => BpeTrainer.Train(Corpus(), VocabSize));

    public static BpeTokenizer Tokenizer => Shared.Value;

    public static List<string> Corpus()
    {
        var rng = new Random(1234);
        string[] syllables = ["the", "an", "ing", "tion", "re", "de", "con", "al", "er", "ous", "ment", "pre", "ly", "é", "über", "日本", "語"];
        string[] punct = [".", ",", "!", "?", ";", " -", "\"", "'s", "'ll", "(", ")"];
        var docs = new List<string>();
        for (var d = 0; d < 60; d++)
        {
            var sb = new StringBuilder();
            for (var w = 0; w < 150; w++)
            {
                var parts = rng.Next(1, 4);
                if (w > 0) sb.Append(rng.Next(12) == 0 ? "\n" : " ");
                if (rng.Next(10) == 0) sb.Append(rng.Next(100000));
                else for (var p = 0; p < parts; p++) sb.Append(syllables[rng.Next(syllables.Length)]);
                if (rng.Next(6) == 0) sb.Append(punct[rng.Next(punct.Length)]);
            }
            docs.Add(sb.ToString());
        }
        return docs;
    }
}
