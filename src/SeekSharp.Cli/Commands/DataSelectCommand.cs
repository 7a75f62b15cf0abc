using System.CommandLine;
using SeekSharp.Selection;
using Spectre.Console;

namespace SeekSharp.Cli.Commands;

/// <summary>`seek data select`: keep the documents of a token dataset that a model scores highest (docs/decisions/0024).</summary>
public static class DataSelectCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Model folder that scores the documents (the learner, or a proxy of it).", Required = true };
        var data = new Option<string>("--data") { Description = "Token dataset folder to select from (its train split; val is copied).", Required = true };
        var output = Options.Out("New token dataset folder: the kept documents, selection.json (every document's scores, kept or dropped), ledger.json.");
        var keep = new Option<double>("--keep-fraction") { Description = "Fraction of training documents to keep, in (0, 1].", Required = true };
        var score = new Option<string>("--score") { Description = "loss (mean token loss), excess-loss (loss minus --reference's loss, RHO-LOSS) or entropy (mean predictive entropy).", Required = true };
        var reference = new Option<string?>("--reference") { Description = "Reference model folder for excess-loss: a small model trained on held-out target data, same tokenizer." };
        var sample = new Option<bool>("--sample") { Description = "Sample documents without replacement, proportionally to their (shifted) score, instead of keeping the top." };
        var seed = new Option<int>("--seed") { Description = "Seed of --sample.", DefaultValueFactory = _ => 1 };
        var batch = new Option<int>("--batch-size") { Description = "Windows per scoring forward.", DefaultValueFactory = _ => 16 };
        var precision = ServeCommand.PrecisionOption();
        var device = Options.Device();
        var hardware = Options.Hardware();
        var cmd = new Command("select", "Score every document with a model (loss, RHO-LOSS excess loss, entropy) and keep the top fraction as a new token dataset.")
            { model, data, output, keep, score, reference, sample, seed, batch, precision, device, hardware };
        cmd.SetAction(p => SeekApp.Guard(() =>
        {
            var o = new SelectOptions
            {
                ModelDir = p.GetValue(model)!, DataDir = p.GetValue(data)!, OutDir = p.GetValue(output)!, KeepFraction = p.GetValue(keep),
                Score = p.GetValue(score)!, ReferenceDir = p.GetValue(reference), Sample = p.GetValue(sample), Seed = p.GetValue(seed),
                BatchSize = p.GetValue(batch), Precision = p.GetValue(precision)!, Device = p.GetValue(device)!, HardwareProfilePath = p.GetValue(hardware),
            };
            DataSelection.Check(o);
            var r = new TrainingProgress().Run("scoring", obs => DataSelection.Run(o, obs));
            var m = r.Manifest;
            var kept = m.PerDocument.Where(d => d.Kept).Select(d => d.Score).DefaultIfEmpty(double.NaN).Average();
            var dropped = m.PerDocument.Where(d => !d.Kept).Select(d => d.Score).DefaultIfEmpty(double.NaN).Average();
            AnsiConsole.MarkupLineInterpolated($"{(m.Sample ? "sampled" : "kept the top")} {m.KeptDocuments:N0} of {m.Documents:N0} documents ({m.KeptTokens:N0} of {m.Tokens:N0} tokens) by {m.Score}");
            var t = new Table().AddColumns("mean score kept", "mean score dropped", "scored tokens", "wall", "USD");
            t.AddRow($"{kept:F4}", double.IsNaN(dropped) ? "-" : $"{dropped:F4}", $"{m.ScoredTokens:N0}", $"{r.Ledger.WallSeconds:F1} s", $"{r.Ledger.Usd:F5}");
            AnsiConsole.Write(t);
            AnsiConsole.MarkupLineInterpolated($"selected dataset written to [bold]{r.OutDir}[/] (dataset.json, shards, selection.json, ledger.json)");
            return 0;
        }));
        return cmd;
    }
}
