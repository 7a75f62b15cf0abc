using SeekSharp.IO;
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
        var src = Directory.Exists(tokenizerDir) ? tokenizerDir : Path.GetDirectoryName(Path.GetFullPath(tokenizerDir))!;
        foreach (var f in new[] { "tokenizer.json", "tokenizer_config.json" })
            if (File.Exists(Path.Combine(src, f))) AtomicFile.WriteAllBytes(Path.Combine(outDir, f), File.ReadAllBytes(Path.Combine(src, f)));
        return report;
    }
}
