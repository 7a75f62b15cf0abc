using SeekSharp.Tokenization;

namespace SeekSharp.Data;

/// <summary>Builds a dataset folder with a saved tokenizer; copies the tokenizer in, so training needs only that folder.</summary>
public static class DatasetBuilder
{
    public static TokenizationReport Tokenize(IReadOnlyList<string> inputs, string tokenizerDir, string outDir, double valFraction = 0.05, Action<string>? log = null,
        Action<long, int, bool>? onDocument = null)
    {
        var tok = BpeTokenizer.Load(tokenizerDir);
        var report = DataTokenization.Run(inputs, text => tok.Encode(text), tok.VocabSize, tok.Hash, tok.BosId, tok.EosId, outDir, valFraction, log: log, onDocument: onDocument);
        BpeTokenizer.CopyFiles(tokenizerDir, outDir);
        return report;
    }
}
