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
    public static string Write(string path, int documents, int seed, double problemFraction = 0.6) =>
        // Arithmetic dominates: it is the task the reasoning recipes train on first.
        Write(path, documents, seed, [(ArithmeticTask.Instance, 0.6), (CountdownTask.Instance, 0.2), (FinanceTask.Instance, 0.2)], problemFraction);

    /// <summary>Like <see cref="Write(string, int, int, double)"/> with a task mix (shares summing to 1) and, when
    /// <paramref name="keep"/> is given, only problems it accepts (rejected ones are redrawn): the r1 recipe keeps the
    /// held-out evaluation problems out of pretraining this way.</summary>
    public static string Write(string path, int documents, int seed, IReadOnlyList<(ISyntheticTask Task, double Share)> mix,
        double problemFraction, Func<SyntheticProblem, bool>? keep = null)
    {
        if (mix.Count == 0) throw new ArgumentException("empty task mix", nameof(mix));
        var rng = new Random(seed);
        var sb = new StringBuilder();
        for (int i = 0; i < documents; i++)
        {
            string text;
            if (rng.NextDouble() < problemFraction)
            {
                double r = rng.NextDouble(), acc = 0;
                var task = mix.First(m => (acc += m.Share) >= r || m == mix[^1]).Task;
                SyntheticProblem problem;
                do
                {
                    problem = task.Generate(rng);
                    if (rng.Next(2) == 1) problem = task.Augment(problem, rng);
                } while (keep is not null && !keep(problem));
                text = problem.ToDocument();
            }
            else text = TemplatedText.Paragraph(rng);
            sb.Append(System.Text.Json.JsonSerializer.Serialize(new { text })).Append('\n');
        }
        AtomicFile.WriteAllText(path, sb.ToString());
        Ledger.DataOrigin.Write(path, Ledger.DataOrigin.Synthetic, $"SyntheticCorpus: {documents} documents, seed {seed}, {problemFraction:P0} problems of {string.Join(", ", mix.Select(m => m.Task.Id))}, the rest templated English");
        return path;
    }
}
