using System.CommandLine;
using SeekSharp.Recipes;
using Spectre.Console;

namespace SeekSharp.Cli.Commands;

/// <summary>`seek quickstart`: the main job end to end on the embedded default.</summary>
public static class QuickstartCommand
{
    public static Command Create()
    {
        var output = Options.Out("Output folder.", required: false);
        output.DefaultValueFactory = _ => "quickstart";
        var steps = new Option<int>("--steps") { Description = "Pretraining steps.", DefaultValueFactory = _ => new QuickstartOptions().Steps };
        var docs = new Option<int>("--documents") { Description = "Synthetic documents to generate.", DefaultValueFactory = _ => new QuickstartOptions().Documents };
        var device = Options.Device();
        var cmd = new Command("quickstart", "Synthetic corpus -> tokenizer -> shards -> pretrain the tiny MoE -> samples, ledger and report.") { output, steps, docs, device };
        cmd.SetAction(p => SeekApp.Guard(() =>
        {
            var o = new QuickstartOptions { OutDir = p.GetValue(output)!, Steps = p.GetValue(steps), Documents = p.GetValue(docs), Device = p.GetValue(device)! };
            var r = new TrainingProgress().Run("quickstart", obs => Quickstart.Run(o, obs));
            AnsiConsole.MarkupLineInterpolated($"tokenizer: vocab {r.Tokenizer.VocabSize}, {r.Tokenizer.BytesPerToken:F2} bytes/token on held-out text");
            AnsiConsole.MarkupLineInterpolated($"data: {r.Data.TrainTokens:N0} train / {r.Data.ValTokens:N0} val tokens");
            BaseCommand.Print(r.Pretrain);
            foreach (var s in r.Samples)
                AnsiConsole.Write(new Panel(new Text(s.Prompt + s.Completion)).Header("sample").Expand());
            return 0;
        }));
        return cmd;
    }
}
