using System.Text;
using SeekSharp.IO;

namespace SeekSharp.Data.Synthetic;

/// <summary>Writes the quickstart's pretraining corpus: arithmetic with worked solutions plus templated English.</summary>
public static class SyntheticCorpus
{
    /// <summary>Writes <paramref name="documents"/> documents, one per line of a JSONL file (field "text"); returns the path.</summary>
    public static string Write(string path, int documents, int seed, double arithmeticFraction = 0.5)
    {
        var rng = new Random(seed);
        var sb = new StringBuilder();
        for (int i = 0; i < documents; i++)
        {
            string text = rng.NextDouble() < arithmeticFraction
                ? ArithmeticTask.Generate(rng).ToDocument()
                : TemplatedText.Paragraph(rng);
            sb.Append(System.Text.Json.JsonSerializer.Serialize(new { text })).Append('\n');
        }
        AtomicFile.WriteAllText(path, sb.ToString());
        return path;
    }
}
