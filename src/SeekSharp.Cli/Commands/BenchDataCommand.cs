using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using SeekSharp.Data.Curation;
using SeekSharp.Native;
using SeekSharp.Tokenization;
using Spectre.Console;

namespace SeekSharp.Cli.Commands;

// Per stage it reports CPU seconds (thread CPU time, summed over the threads that ran the stage) and the MB/s
// one core would reach on that stage alone, which stay meaningful on a loaded machine; end to end it reports
// wall-clock MB/s and the process's CPU seconds over the run, whose ratio says how many cores were busy.
/// <summary>`seek bench data`: MB/s per curation stage and end to end over the shared corpora.</summary>
public static class BenchDataCommand
{
    public static Command Create()
    {
        var corpora = new Option<string>("--corpora") { Description = "Folder with spam-assassin/ and sotu/ (and lexicons/afinn-111.csv).", DefaultValueFactory = _ => Path.Combine("..", "shared", "corpora") };
        var tokenizer = new Option<string?>("--tokenizer") { Description = "Tokenizer folder; default: train a 4096-token one on sotu first (not timed)." };
        var json = new Option<bool>("--json") { Description = "Print one JSON object instead of a table." };
        var cmd = new Command("data", "Benchmark `data prepare` over spam-assassin + sotu: MB/s per stage and end to end.") { corpora, tokenizer, json };
        cmd.SetAction(p => SeekApp.Guard(() =>
        {
            var dir = p.GetValue(corpora)!;
            var asJson = p.GetValue(json);
            foreach (var sub in new[] { "spam-assassin", "sotu" })
                if (!Directory.Exists(Path.Combine(dir, sub))) throw new SeekSharpException($"--corpora {dir}: no {sub}/ folder there.");
            var work = Directory.CreateTempSubdirectory("seek-bench-data-").FullName;
            try
            {
                var tokDir = p.GetValue(tokenizer);
                if (tokDir is null)
                {
                    tokDir = Path.Combine(work, "tokenizer");
                    if (!asJson) AnsiConsole.MarkupLine("[grey]training a 4096-token tokenizer on sotu (not timed)...[/]");
                    TokenizerTraining.Run([Path.Combine(dir, "sotu")], 4096, tokDir);
                }
                var gcPause0 = GC.GetTotalPauseDuration();
                var gc0 = GC.CollectionCount(0);
                var alloc0 = GC.GetTotalAllocatedBytes();
                var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
                var afinn = Path.Combine(dir, "lexicons", "afinn-111.csv");
                var r = CurationPipeline.Run(new CurationOptions
                {
                    Sources = [SourceSpec.Parse($"spam={Path.Combine(dir, "spam-assassin")}"), SourceSpec.Parse($"sotu={Path.Combine(dir, "sotu")}")],
                    TokenizerDir = tokDir, OutDir = Path.Combine(work, "out"), LexiconPath = File.Exists(afinn) ? afinn : null,
                });
                var cpu = (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalSeconds;
                var m = r.Manifest;
                var gcPause = (GC.GetTotalPauseDuration() - gcPause0).TotalSeconds;
                var gcs = GC.CollectionCount(0) - gc0;
                var allocated = (GC.GetTotalAllocatedBytes() - alloc0) / 1e6;
                var mb = m.Totals.BytesIn / 1e6;
                var cores = Environment.ProcessorCount;
                var busy = cpu / m.WallSeconds;   // cores kept busy on average
                if (asJson)
                {
                    Console.WriteLine(JsonSerializer.Serialize(new
                    {
                        mb_in = mb, wall_seconds = m.WallSeconds, mb_per_s = mb / m.WallSeconds, cpu_seconds = cpu, cores_busy = busy, cores,
                        cpu_is_thread_time = ThreadCpuClock.IsCpuTime, gc_pause_seconds = gcPause, gc_collections = gcs, allocated_mb = allocated,
                        stages = m.Stages.Select(s => new { s.Stage, cpu_seconds = s.ThreadSeconds, s.Parallel, mb_per_s = mb / Math.Max(s.ThreadSeconds, 1e-9) }),
                        documents_in = m.Totals.In, kept = m.Totals.Kept,
                    }, new JsonSerializerOptions { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower }));
                    return 0;
                }
                var unit = ThreadCpuClock.IsCpuTime ? "CPU seconds" : "thread seconds (wall)";
                var t = new Table().AddColumns("stage", $"{unit}, all threads", "MB/s per core", "share");
                var sum = m.Stages.Sum(s => s.ThreadSeconds);
                foreach (var s in m.Stages)
                    t.AddRow(s.Stage + (s.Parallel ? "" : " (1 thread)"), $"{s.ThreadSeconds:F2}", $"{mb / Math.Max(s.ThreadSeconds, 1e-9):F1}", $"{s.ThreadSeconds / sum:P0}");
                t.AddRow("[bold]end to end[/]", $"{cpu:F2} CPU, {m.WallSeconds:F2} wall", $"[bold]{mb / m.WallSeconds:F1}[/] (wall)", "");
                AnsiConsole.Write(t);
                AnsiConsole.MarkupLineInterpolated($"[grey]{mb:F1} MB, {m.Totals.In:N0} documents in, {m.Totals.Kept:N0} kept; {busy:F2} of {cores} cores busy on average (process CPU / wall); GC paused {gcPause:F2} s in {gcs} collections, {allocated:N0} MB allocated[/]");
                return 0;
            }
            finally { try { Directory.Delete(work, true); } catch (IOException) { } }
        }));
        return cmd;
    }
}
