using SeekSharp.Data.Synthetic;
using SeekSharp.Ledger;

namespace SeekSharp.Reasoning;

// Where the chat stages' problems come from: `--task arithmetic|countdown|finance` draws from the
// synthetic generator (training: the non-held-out side of HeldOut's partition, seeded; evaluation: the
// held-out set), `--task FILE.jsonl` reads `seek data synth` records. A file used for training is cycled
// in a seeded order and loses any problem of the held-out bucket, so training from a file cannot leak
// into the synthetic evaluation; a file used for evaluation is taken as it is (the user's own test set),
// and the overlap check still applies to it.

/// <summary>Training and evaluation problems for a --task value.</summary>
public static class TaskSource
{
    /// <summary>True when <paramref name="task"/> names a JSONL file rather than a synthetic task id.</summary>
    public static bool IsFile(string task) => task.EndsWith(".jsonl", StringComparison.OrdinalIgnoreCase) || File.Exists(task);

    /// <summary>An endless stream of training problems.</summary>
    public static IEnumerable<SyntheticProblem> Training(string task, int seed, Action<string>? say = null)
    {
        if (!IsFile(task)) return HeldOut.TrainingStream(SyntheticTasks.Get(task), seed);
        var all = SyntheticData.Read(task).Select(r => r.Problem).ToList();
        var kept = all.Where(p => !HeldOut.IsHeldOut(p)).ToList();
        if (kept.Count < all.Count) say?.Invoke($"{task}: {all.Count - kept.Count} of {all.Count} problems fall in the held-out bucket and are not trained on.");
        if (kept.Count == 0) throw new SeekSharpException($"{task}: no trainable problems (all {all.Count} are in the held-out evaluation bucket or the file is empty).");
        return Cycle(kept, seed);
    }

    static IEnumerable<SyntheticProblem> Cycle(List<SyntheticProblem> items, int seed)
    {
        var rng = new Random(seed);
        var order = Enumerable.Range(0, items.Count).ToArray();
        while (true)
        {
            rng.Shuffle(order);
            foreach (var i in order) yield return items[i];
        }
    }

    /// <summary>The evaluation problems: the held-out set of a synthetic task, or the first <paramref name="count"/> of a file.</summary>
    public static List<SyntheticProblem> Evaluation(string task, int count)
    {
        if (!IsFile(task)) return HeldOut.Problems(SyntheticTasks.Get(task), count);
        var list = SyntheticData.Read(task).Select(r => r.Problem).Take(count).ToList();
        if (list.Count == 0) throw new SeekSharpException($"{task}: no problems to evaluate.");
        return list;
    }

    /// <summary>The data side of a stage that trained on prompts of <paramref name="task"/>: <paramref name="drawn"/>
    /// problems read from the source, <paramref name="used"/> of them rolled out and trained on, their prompts
    /// <paramref name="promptTokens"/> tokens. A synthetic task's problems are generated (origin synthetic, no bytes read);
    /// a file's origin is what its DataOrigin record says.</summary>
    public static LedgerData LedgerOf(string task, long drawn, long used, long promptTokens)
    {
        bool file = IsFile(task);
        return new LedgerData
        {
            Dataset = task, Treatment = LedgerData.AsGiven,
            Sources = [new LedgerDataSource(file ? Path.GetFileName(task) : Name(task) + " (generated)", drawn, used,
                file ? new FileInfo(task).Length : null, promptTokens, 0, file ? DataOrigin.Read(task) : DataOrigin.Synthetic,
                file ? DataOrigin.AcquisitionUsd(task) : null)],
        };
    }

    /// <summary>A short id for file names and report titles.</summary>
    public static string Name(string task) => IsFile(task) ? Path.GetFileNameWithoutExtension(task) : SyntheticTasks.Get(task).Id;
}
