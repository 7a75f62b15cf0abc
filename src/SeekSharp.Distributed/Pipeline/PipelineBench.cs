using System.Diagnostics;
using System.Text;
using System.Text.Json;
using SeekSharp.IO;
using SeekSharp.Ledger;
using SeekSharp.Modeling;
using SeekSharp.Training;

namespace SeekSharp.Distributed.Pipeline;

// `seek bench pipeline`: the same short run with each number of stages in turn, every stage a real `seek stage` process
// on this machine. Per run: tokens/s and step time over the steps after the first (start-up, the profile and the first
// step's allocations are not the pipeline's pace; the last step's validation and checkpoint are left out too), the
// measured bubble (each stage's wait for activations and gradients over its step time, averaged over stages) beside
// (S-1)/(M+S-1), each stage's peak RSS, and the payload bytes the stages sent per step. With --max-memory every stage
// must stay under it: a run that passes it is reported as failed with the stage's error, which is how a model that does
// not fit one process is shown to train on S. With --expert-parallel 1,2 every stage count runs with each E in turn: its
// row adds the expert processes' peak RSS after the stages' and their payloads to the bytes per step.

public sealed record PipelineBenchOptions
{
    public required string Preset { get; init; }
    public required string DataDir { get; init; }
    public required string OutDir { get; init; }
    public required IReadOnlyList<int> Stages { get; init; }
    public required int MicroBatches { get; init; }
    public required TrainConfig Train { get; init; }
    public string Schedule { get; init; } = "1f1b";
    public long MaxMemory { get; init; }
    public int Port { get; init; } = 30300;
    /// <summary>libtorch threads per stage (the same for every S, so that S stages use S times the cores of one).</summary>
    public int Threads { get; init; } = 1;
    /// <summary>Expert-parallel widths to run each stage count with (E = 1: no expert processes).</summary>
    public IReadOnlyList<int> ExpertParallel { get; init; } = [1];
}

public sealed record PipelineBenchRow(int Stages, int Experts, string Split, double TokensPerSecond, double StepSeconds, double Bubble, double BubbleTheory,
    long[] PeakRss, double BytesPerStep, double FinalLoss, string? Error);

public static class PipelineBench
{
    public static (IReadOnlyList<PipelineBenchRow> Rows, string Report) Run(PipelineBenchOptions o, string commandLine, Action<string> say)
    {
        Directory.CreateDirectory(o.OutDir);
        var model = Presets.Get(o.Preset);
        var rows = new List<PipelineBenchRow>();
        var runs = o.Stages.SelectMany(s => o.ExpertParallel.Select(e => (s, e))).ToList();
        for (int i = 0; i < runs.Count; i++)
        {
            var (s, e) = runs[i];
            var run = Path.Combine(o.OutDir, e > 1 ? $"s{s}e{e}" : $"s{s}");
            if (Directory.Exists(run)) Directory.Delete(run, recursive: true);
            var po = new PipelineOptions { Stages = s, ExpertParallel = e, MicroBatches = o.MicroBatches, Schedule = o.Schedule, MaxMemory = o.MaxMemory, Port = o.Port + 2 * i, Threads = o.Threads };
            PipelineHost.MicroBatches(po, model, o.Train);
            var spans = new List<string>();
            say($"S = {s}{(e > 1 ? $", E = {e}" : "")}: {o.Train.Steps} steps of {o.Train.BatchSize} x {o.Train.SeqLen} tokens, {po.MicroBatches} micro-batches, {o.Schedule}");
            try
            {
                var r = PipelineHost.Train(new PretrainOptions(o.DataDir, run, model, o.Train), po, null, line =>
                {
                    if (line.StartsWith("stage ", StringComparison.Ordinal) && line.Contains("layers")) spans.Add(line);
                    say(line);
                });
                Reports.RunReport.Write(run, $"Pipeline, {s} stage(s){(e > 1 ? $", {e} expert ranges" : "")}");
                rows.Add(Row(s, e, string.Join("; ", spans), run, r.FinalLoss, null));
            }
            catch (SeekSharpException x)
            {
                say($"S = {s}, E = {e} failed: {x.Message}");
                rows.Add(new PipelineBenchRow(s, e, string.Join("; ", spans), 0, 0, 0, PipelinePlan.TheoreticalBubble(s, po.MicroBatches), [], 0, double.NaN, x.Message));
            }
        }
        return (rows, Write(o, rows, commandLine));
    }

    static PipelineBenchRow Row(int s, int e, string split, string run, double finalLoss, string? error)
    {
        var records = MetricsLog.Read(Path.Combine(run, MetricsLog.FileName));
        var steady = records.Count > 2 ? records.Skip(1).Take(records.Count - 2).ToList() : records.ToList();
        double D(System.Text.Json.Nodes.JsonObject r, string k) => r[k]?.GetValue<double>() ?? 0;
        double seconds = steady.Sum(r => D(r, "step_seconds"));
        double tokens = steady.Count == 0 ? 0 : steady.Sum(_ => D(records[0], "tokens"));
        var rss = Enumerable.Range(0, s).Select(k => $"stage{k}_peak_rss").Concat(Enumerable.Range(1, e - 1).Select(x => $"experts{x}_peak_rss"))
            .Select(key => (long)records.Max(r => D(r, key))).ToArray();
        return new PipelineBenchRow(s, e, split, tokens / Math.Max(seconds, 1e-9), seconds / Math.Max(1, steady.Count), steady.Average(r => D(r, "bubble")),
            D(records[0], "bubble_theory"), rss, steady.Average(r => D(r, "bytes_sent")), finalLoss, error);
    }

    static string Write(PipelineBenchOptions o, IReadOnlyList<PipelineBenchRow> rows, string commandLine)
    {
        var md = new StringBuilder();
        md.AppendLine("# seek bench pipeline").AppendLine().AppendLine($"`{commandLine}`").AppendLine();
        md.AppendLine($"{o.Preset}, {o.Train.Precision}, batch {o.Train.BatchSize} x {o.Train.SeqLen}, {o.MicroBatches} micro-batches, {o.Schedule}, " +
                      $"{o.Train.Steps} steps (the first and last left out of the rates){(o.MaxMemory > 0 ? $", --max-memory {o.MaxMemory:N0} B per stage" : "")}, {o.Threads} libtorch thread(s) per stage; {DateTime.UtcNow:yyyy-MM-dd}, {Environment.ProcessorCount} cores").AppendLine();
        md.AppendLine("| stages | expert ranges | tokens/s | vs first | s/step | bubble measured | bubble (S-1)/(M+S-1) | peak RSS per process (MB) | bytes sent / step | result |");
        md.AppendLine("|---|---|---|---|---|---|---|---|---|---|");
        double first = rows.FirstOrDefault(r => r.Error is null)?.TokensPerSecond ?? 0;
        foreach (var r in rows)
            md.AppendLine(r.Error is null
                ? $"| {r.Stages} | {r.Experts} | {r.TokensPerSecond:F1} | {r.TokensPerSecond / Math.Max(first, 1e-9):F2}x | {r.StepSeconds:F3} | {r.Bubble:P1} | {r.BubbleTheory:P1} | {string.Join(" / ", r.PeakRss.Select(b => $"{b / 1048576.0:F0}"))} | {r.BytesPerStep:N0} | loss {r.FinalLoss:F4} |"
                : $"| {r.Stages} | {r.Experts} | - | - | - | - | {r.BubbleTheory:P1} | - | - | failed: {r.Error} |");
        md.AppendLine();
        foreach (var r in rows.Where(r => r.Split.Length > 0 && r.Experts == 1)) md.AppendLine($"- S = {r.Stages}: {r.Split}");
        var path = Path.Combine(o.OutDir, "pipeline.md");
        AtomicFile.WriteAllText(path, md.ToString());
        AtomicFile.WriteAllText(Path.Combine(o.OutDir, "pipeline.json"), JsonSerializer.Serialize(rows, new JsonSerializerOptions { WriteIndented = true }));
        return path;
    }
}
