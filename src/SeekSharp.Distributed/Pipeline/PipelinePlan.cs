using System.Diagnostics;
using SeekSharp.Modeling;
using static TorchSharp.torch;

namespace SeekSharp.Distributed.Pipeline;

// How the layers are split and in what order a stage runs its micro-batches.
// Split: contiguous stages minimizing the slowest stage's time (a pipeline runs at its slowest stage's pace), over
// per-layer costs measured once (Profile: one forward + backward of each kind of block, and of the embedding + head,
// on one micro-batch) or, as the fallback, equal costs (equal layer counts). Layers of one kind cost the same, so
// each kind is timed once, in a two-layer model, not the whole model.
// Schedules (Narayanan et al. 2021): GPipe runs every forward, then every backward, so a stage keeps all M micro-batches'
// activations alive; 1F1B (PipeDream-flush) runs S-1-k forwards on stage k, then alternates one forward and one
// backward, so at most S-k (≤ S) are alive. Both run backwards in micro-batch order, so the gradients accumulate in the
// same order and the two schedules give the same update; both have the bubble (S-1)/(M+S-1).

public enum PipelineOpKind { Forward, Backward }

public readonly record struct PipelineOp(PipelineOpKind Kind, int Micro)
{
    public override string ToString() => $"{(Kind == PipelineOpKind.Forward ? "F" : "B")}{Micro}";
}

public static class PipelinePlan
{
    public static readonly string[] Schedules = ["1f1b", "gpipe"];

    /// <summary>The ops stage <paramref name="stage"/> of <paramref name="stages"/> runs in one step of <paramref name="micro"/> micro-batches.</summary>
    public static IReadOnlyList<PipelineOp> Ops(string schedule, int stage, int stages, int micro)
    {
        var ops = new List<PipelineOp>(2 * micro);
        if (schedule == "gpipe")
        {
            for (int m = 0; m < micro; m++) ops.Add(new(PipelineOpKind.Forward, m));
            for (int m = 0; m < micro; m++) ops.Add(new(PipelineOpKind.Backward, m));
            return ops;
        }
        int warmup = Math.Min(stages - stage - 1, micro);
        for (int m = 0; m < warmup; m++) ops.Add(new(PipelineOpKind.Forward, m));
        for (int i = 0; i < micro - warmup; i++)
        {
            ops.Add(new(PipelineOpKind.Forward, warmup + i));
            ops.Add(new(PipelineOpKind.Backward, i));
        }
        for (int m = micro - warmup; m < micro; m++) ops.Add(new(PipelineOpKind.Backward, m));
        return ops;
    }

    /// <summary>Most micro-batches whose activations are alive at once on a stage running <paramref name="ops"/>.</summary>
    public static int MaxLive(IEnumerable<PipelineOp> ops)
    {
        int live = 0, max = 0;
        foreach (var op in ops) max = Math.Max(max, live += op.Kind == PipelineOpKind.Forward ? 1 : -1);
        return max;
    }

    /// <summary>The schedule's idle fraction per stage: (S-1)/(M+S-1).</summary>
    public static double TheoreticalBubble(int stages, int micro) => (double)(stages - 1) / (micro + stages - 1);

    /// <summary>Contiguous stages (each at least one layer) minimizing the largest stage cost; the embedding's cost goes to
    /// the first stage, the head's to the last.</summary>
    public static StageSpan[] Split(IReadOnlyList<double> layerCost, int stages, double embedCost = 0, double headCost = 0)
    {
        int n = layerCost.Count;
        if (stages < 1 || stages > n) throw new ArgumentOutOfRangeException(nameof(stages), stages, $"1 to {n} stages");
        var prefix = new double[n + 1];
        for (int i = 0; i < n; i++) prefix[i + 1] = prefix[i] + layerCost[i];
        double Cost(int s, int a, int b) => prefix[b] - prefix[a] + (s == 0 ? embedCost : 0) + (s == stages - 1 ? headCost : 0);
        // best[s, b]: the smallest possible maximum over stages 0..s when they hold layers [0, b); cut[s, b] the start of stage s.
        var best = new double[stages, n + 1];
        var cut = new int[stages, n + 1];
        for (int b = 1; b <= n; b++) best[0, b] = Cost(0, 0, b);
        for (int s = 1; s < stages; s++)
            for (int b = s + 1; b <= n; b++)
            {
                best[s, b] = double.MaxValue;
                for (int a = s; a < b; a++)
                {
                    double m = Math.Max(best[s - 1, a], Cost(s, a, b));
                    if (m < best[s, b] - 1e-12) { best[s, b] = m; cut[s, b] = a; }
                }
            }
        var spans = new StageSpan[stages];
        for (int s = stages - 1, end = n; s >= 0; s--)
        {
            int start = s == 0 ? 0 : cut[s, end];
            spans[s] = new StageSpan(s, stages, start, end);
            end = start;
        }
        return spans;
    }

    /// <summary>Seconds of one forward + backward per layer of <paramref name="cfg"/> on a (rows, seqLen) micro-batch, and of the
    /// embedding + final norm + head with its loss; each kind of block timed once (median of 3 after a warm-up).</summary>
    public static (double[] Layers, double EmbedHead) Profile(ModelConfig cfg, int rows, int seqLen, string precision)
    {
        int kinds = Math.Min(cfg.NumHiddenLayers, cfg.NRoutedExperts > 0 ? cfg.FirstKDenseReplace + 1 : 1);
        var small = cfg with { NumHiddenLayers = Math.Max(1, kinds), NumNextnPredictLayers = 0 };
        using var model = new Modeling.Transformer(small, 1);
        Training.TrainingPrecision.Apply(model, precision);
        model.train();
        var perKind = new double[small.NumHiddenLayers];
        for (int i = 0; i < perKind.Length; i++)
            perKind[i] = Median(() =>
            {
                using var scope = NewDisposeScope();
                var h = randn(rows, seqLen, cfg.HiddenSize).requires_grad_(true);
                var (y, aux) = model.ForwardStage(h, new StageSpan(1, 3, i, i + 1));
                var obj = y.sum();
                if (aux is not null) obj = obj + aux;
                obj.backward();
            });
        double head = Median(() =>
        {
            using var scope = NewDisposeScope();
            var ids = randint(cfg.VocabSize, [rows, seqLen]);
            var (logits, _) = model.ForwardStage(ids, new StageSpan(0, 1, 0, 0));
            nn.functional.cross_entropy(logits.view(-1, cfg.VocabSize), randint(cfg.VocabSize, [rows * seqLen])).backward();
        });
        model.zero_grad();
        var layers = new double[cfg.NumHiddenLayers];
        for (int i = 0; i < layers.Length; i++) layers[i] = cfg.IsMoeLayer(i) ? perKind[^1] : perKind[0];
        return (layers, head);
    }

    static double Median(Action run)
    {
        run();
        var t = new double[3];
        for (int i = 0; i < t.Length; i++)
        {
            var sw = Stopwatch.StartNew();
            run();
            t[i] = sw.Elapsed.TotalSeconds;
        }
        Array.Sort(t);
        return t[1];
    }
}
