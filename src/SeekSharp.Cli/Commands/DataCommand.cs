using System.CommandLine;
using SeekSharp.Data;
using Spectre.Console;

namespace SeekSharp.Cli.Commands;

/// <summary>`seek data tokenize`: text in, binary token shards with a train/val split out.</summary>
public static class DataCommand
{
    public static Command Create()
    {
        var input = Options.Inputs("Text files or folders (.txt, .md, .jsonl with a \"text\" field), searched recursively.");
        var tokenizer = new Option<string>("--tokenizer") { Description = "Tokenizer folder (from `seek tok train`).", Required = true };
        var output = Options.Out("Folder for dataset.json and the train_NNN.bin / val_NNN.bin shards.");
        var valFraction = new Option<double>("--val-fraction") { Description = "Fraction of documents held out for validation.", DefaultValueFactory = _ => 0.05 };
        var tokenize = new Command("tokenize", "Tokenize documents into memory-mappable shards.") { input, tokenizer, output, valFraction };
        tokenize.SetAction(p => SeekApp.Guard(() =>
        {
            var r = DatasetBuilder.Tokenize(p.GetValue(input)!, p.GetValue(tokenizer)!, p.GetValue(output)!, p.GetValue(valFraction),
                m => AnsiConsole.MarkupLineInterpolated($"[grey]{m}[/]"));
            var t = new Table().AddColumns("documents", "skipped", "train tokens", "val tokens", "MB read", "seconds", "MB/s");
            t.AddRow($"{r.Documents}", $"{r.Skipped.Values.Sum()}", $"{r.TrainTokens:N0}", $"{r.ValTokens:N0}", $"{r.BytesRead / 1e6:F2}", $"{r.Seconds:F1}", $"{r.BytesRead / 1e6 / Math.Max(r.Seconds, 1e-9):F2}");
            AnsiConsole.Write(t);
            if (r.Skipped.Count > 0) AnsiConsole.MarkupLineInterpolated($"files not read: {DataTokenization.Summary(r.Skipped)}");
            AnsiConsole.MarkupLineInterpolated($"shards written to [bold]{p.GetValue(output)}[/]");
            return 0;
        }));
        return new Command("data", "Data preparation commands.") { tokenize, DataPrepareCommand.Create(), DataPrepareCommand.CreateSynth(), DataSelectCommand.Create() };
    }
}
