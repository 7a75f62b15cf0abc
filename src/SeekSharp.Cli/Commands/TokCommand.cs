using System.CommandLine;
using SeekSharp.Tokenization;
using Spectre.Console;

namespace SeekSharp.Cli.Commands;

/// <summary>`seek tok train`: byte-level BPE from text files or folders.</summary>
public static class TokCommand
{
    public static Command Create()
    {
        var input = Options.Inputs("Text files or folders (.txt, .md, .jsonl with a \"text\" field), searched recursively.");
        var vocab = new Option<int>("--vocab") { Description = "Vocabulary size including the 256 byte tokens and the special tokens.", DefaultValueFactory = _ => 4096 };
        var output = Options.Out("Folder for tokenizer.json and tokenizer_config.json.");
        var train = new Command("train", "Train a byte-level BPE tokenizer and report bytes per token on held-out text.") { input, vocab, output };
        train.SetAction(p => SeekApp.Guard(() =>
        {
            var r = TokenizerTraining.Run(p.GetValue(input)!, p.GetValue(vocab), p.GetValue(output)!,
                log: m => AnsiConsole.MarkupLineInterpolated($"[grey]{m}[/]"));
            var t = new Table().AddColumns("vocab", "merges", "documents", "train MB", "seconds", "held-out bytes/token");
            t.AddRow($"{r.VocabSize}", $"{r.Merges}", $"{r.Documents}", $"{r.TrainingBytes / 1e6:F2}", $"{r.Seconds:F1}", $"{r.BytesPerToken:F3}");
            AnsiConsole.Write(t);
            AnsiConsole.MarkupLineInterpolated($"tokenizer written to [bold]{r.OutputPath}[/]");
            return 0;
        }));
        return new Command("tok", "Tokenizer commands.") { train };
    }
}
