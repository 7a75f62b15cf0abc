using System.Text;
using SeekSharp.IO;

namespace SeekSharp.Data.Synthetic;

// The quickstart's pretraining corpus: every synthetic task (arithmetic, countdown, finance) as a
// problem with its worked solution, with every other problem augmented (re-sampled numbers, another
// phrasing, distractors; the answer recomputed), plus templated English so the model also sees
// ordinary sentences. Deterministic for a seed.

/// <summary>Writes the quickstart's synthetic pretraining corpus.</summary>
public static class SyntheticCorpus
{
    /// <summary>Writes <paramref name="documents"/> documents, one per line of a JSONL file (field "text"); returns the path.</summary>
    /// <param name="problemFraction">Share of documents that are task problems; the rest is templated English.</param>
    public static string Write(string path, int documents, int seed, double problemFraction = 0.6)
    {
        var rng = new Random(seed);
        // Arithmetic dominates: it is the task the reasoning recipes train on first.
        (ISyntheticTask Task, double Share)[] mix =
            [(ArithmeticTask.Instance, 0.6), (CountdownTask.Instance, 0.2), (FinanceTask.Instance, 0.2)];
        var sb = new StringBuilder();
        for (int i = 0; i < documents; i++)
        {
            string text;
            if (rng.NextDouble() < problemFraction)
            {
                double r = rng.NextDouble(), acc = 0;
                var task = mix.First(m => (acc += m.Share) >= r || m == mix[^1]).Task;
                var problem = task.Generate(rng);
                if (rng.Next(2) == 1) problem = task.Augment(problem, rng);
                text = problem.ToDocument();
            }
            else text = TemplatedText.Paragraph(rng);
            sb.Append(System.Text.Json.JsonSerializer.Serialize(new { text })).Append('\n');
        }
        AtomicFile.WriteAllText(path, sb.ToString());
        return path;
    }
}
