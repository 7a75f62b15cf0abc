using SeekSharp.Checkpoints;
using SeekSharp.Ledger;

namespace SeekSharp.Alignment;

/// <summary>Plumbing the fine-tuning stages share: a fresh output folder and a seeded validation split.</summary>
public static class FineTuning
{
    /// <summary>Creates <paramref name="outDir"/>, refusing the input folder itself or a folder that already holds a run.</summary>
    public static void PrepareOutput(string modelDir, string outDir)
    {
        if (Path.GetFullPath(modelDir).TrimEnd('/') == Path.GetFullPath(outDir).TrimEnd('/'))
            throw new SeekSharpException($"{outDir}: --out must differ from --model (the base model would be overwritten).");
        foreach (var f in new[] { ModelFiles.WeightsFile, ModelFiles.IndexFile, MetricsLog.FileName })
            if (File.Exists(Path.Combine(outDir, f)))
                throw new SeekSharpException($"{outDir}: already holds {f}; choose another --out.");
        Directory.CreateDirectory(outDir);
    }

    /// <summary>Shuffles with <paramref name="seed"/> and holds out round(fraction·n) items (at least one when fraction &gt; 0),
    /// always leaving one to train on.</summary>
    public static (List<T> Train, List<T> Val) Split<T>(IReadOnlyList<T> items, double fraction, int seed)
    {
        var order = Enumerable.Range(0, items.Count).ToArray();
        new Random(seed).Shuffle(order);
        int val = fraction > 0 ? Math.Max(1, (int)Math.Round(items.Count * fraction)) : 0;
        val = Math.Min(val, items.Count - 1);
        return (order.Skip(val).Select(i => items[i]).ToList(), order.Take(val).Select(i => items[i]).ToList());
    }
}
