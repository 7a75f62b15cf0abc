using System.CommandLine;
using SeekSharp.Data.Curation;
using SeekSharp.Data.Synthetic;
using Spectre.Console;

namespace SeekSharp.Cli.Commands;

/// <summary>`seek data prepare` (curate several sources into a token dataset) and `seek data synth`.</summary>
public static class DataPrepareCommand
{
    public static Command Create()
    {
        var source = new Option<string[]>("--source") { Description = "NAME=PATH[:WEIGHT], repeatable: a file or folder, its mixing weight (default 1, at most 100).", Required = true, AllowMultipleArgumentsPerToken = true };
        var field = new Option<string[]>("--field") { Description = "NAME=FIELD: the JSONL field holding the text for source NAME (default text).", AllowMultipleArgumentsPerToken = true };
        var column = new Option<string[]>("--column") { Description = "NAME=COLUMN: the CSV/Parquet column holding the text for source NAME (default text).", AllowMultipleArgumentsPerToken = true };
        var format = new Option<string[]>("--format") { Description = $"NAME=FORMAT: force a format for source NAME ({string.Join(", ", SourceSpec.Formats)}); default: by file.", AllowMultipleArgumentsPerToken = true };
        var tokenizer = new Option<string>("--tokenizer") { Description = "Tokenizer folder (from `seek tok train`).", Required = true };
        var output = Options.Out("Folder for the token dataset, documents.jsonl, quarantine.jsonl, datacard.md and manifest.json.");
        var lexicon = new Option<string?>("--lexicon") { Description = "\"word,score\" sentiment lexicon (e.g. AFINN-111) for the sentiment label; none: no sentiment label." };
        var threshold = new Option<double>("--dedup-threshold") { Description = "Jaccard similarity at or above which a document is a near duplicate.", DefaultValueFactory = _ => 0.8 };
        var valFraction = new Option<double>("--val-fraction") { Description = "Fraction of kept documents held out for validation.", DefaultValueFactory = _ => 0.05 };
        var maxTokens = new Option<long>("--max-tokens") { Description = "Stop with an error once the output passes this many tokens (all copies, both splits).", DefaultValueFactory = _ => CurationOptions.DefaultMaxTokens };
        var cmd = new Command("prepare", "Curate sources (decode, extract, normalize, filter, scrub, dedup, label, mix) into a token dataset with a data card.")
            { source, field, column, format, tokenizer, output, lexicon, threshold, valFraction, maxTokens };
        cmd.SetAction(p => SeekApp.Guard(() =>
        {
            var specs = p.GetValue(source)!.Select(SourceSpec.Parse).ToList();
            specs = Apply(specs, p.GetValue(field), "--field", (s, v) => s with { Field = v });
            specs = Apply(specs, p.GetValue(column), "--column", (s, v) => s with { Column = v });
            specs = Apply(specs, p.GetValue(format), "--format", (s, v) => s with { Format = v });
            var r = CurationPipeline.Run(new CurationOptions
            {
                Sources = specs, TokenizerDir = p.GetValue(tokenizer)!, OutDir = p.GetValue(output)!, LexiconPath = p.GetValue(lexicon),
                DedupThreshold = p.GetValue(threshold), ValFraction = p.GetValue(valFraction), MaxTokens = p.GetValue(maxTokens),
            }, msg => AnsiConsole.MarkupLineInterpolated($"[grey]{msg}[/]"));
            AnsiConsole.Write(CountsTable(r.Manifest));
            AnsiConsole.MarkupLineInterpolated($"train {r.Tokens.TrainTokens:N0} tokens, val {r.Tokens.ValTokens:N0} tokens; {r.Manifest.Totals.BytesIn / 1e6:F1} MB in {r.Manifest.WallSeconds:F1} s");
            AnsiConsole.MarkupLineInterpolated($"dataset, manifest.json, datacard.md and quarantine.jsonl written to [bold]{r.OutDir}[/]");
            return 0;
        }));
        return cmd;
    }

    public static Table CountsTable(CurationManifest m)
    {
        var t = new Table().AddColumns("source", "in", "quarantined", "filtered", "exact dup", "near dup", "kept", "mixed", "tokens");
        foreach (var s in m.Sources.Append(m.Totals))
            t.AddRow(s.Name, $"{s.In:N0}", $"{s.QuarantinedTotal:N0}", $"{s.FilteredTotal:N0}", $"{s.ExactDuplicates:N0}", $"{s.NearDuplicates:N0}",
                $"{s.Kept:N0}", $"{s.Mixed:N0}", $"{s.TrainTokens + s.ValTokens:N0}");
        return t;
    }

    // NAME=VALUE options name a source given with --source; anything else is a typo worth reporting.
    static List<SourceSpec> Apply(List<SourceSpec> specs, string[]? values, string option, Func<SourceSpec, string, SourceSpec> set)
    {
        foreach (var v in values ?? [])
        {
            var eq = v.IndexOf('=');
            if (eq <= 0 || eq == v.Length - 1) throw new SeekSharpException($"{option} \"{v}\": expected NAME=VALUE.");
            var name = v[..eq];
            var i = specs.FindIndex(s => s.Name == name);
            if (i < 0) throw new SeekSharpException($"{option} \"{v}\": no --source is named \"{name}\".");
            specs[i] = set(specs[i], v[(eq + 1)..]);
        }
        return specs;
    }

    public static Command CreateSynth()
    {
        var task = new Option<string>("--task") { Description = "arithmetic, countdown or finance.", Required = true };
        task.AcceptOnlyFromAmong("arithmetic", "countdown", "finance");
        var count = new Option<int>("--count") { Description = "Problems to generate.", DefaultValueFactory = _ => 1000 };
        var seed = new Option<int>("--seed") { Description = "Random seed (same seed, same file).", DefaultValueFactory = _ => 0 };
        var output = Options.Out("JSONL file to write.");
        var augment = new Option<bool>("--augment") { Description = "Also write an augmented variant of each problem (rephrased, distractors)." };
        var cmd = new Command("synth", "Generate verifiable synthetic problems (JSONL).") { task, count, seed, output, augment };
        cmd.SetAction(p => SeekApp.Guard(() =>
        {
            var r = SyntheticData.Write(p.GetValue(task)!, p.GetValue(count), p.GetValue(seed), p.GetValue(output)!, p.GetValue(augment));
            var t = new Table().AddColumns("task", "records", "augmented", "seed", "bytes", "sha256");
            t.AddRow(r.Task, $"{r.Records:N0}", $"{r.Augmented:N0}", $"{r.Seed}", $"{r.Bytes:N0}", r.Sha256[..16]);
            AnsiConsole.Write(t);
            AnsiConsole.MarkupLineInterpolated($"problems written to [bold]{r.Path}[/]");
            return 0;
        }));
        return cmd;
    }
}
