using System.CommandLine;
using SeekSharp.Alignment;
using Spectre.Console;

namespace SeekSharp.Cli.Commands;

/// <summary>`seek chat merge`: fold a LoRA adapter into its base model, writing a plain model folder.</summary>
public static class ChatMergeCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Base model folder the adapter was trained on.", Required = true };
        var adapter = new Option<string>("--adapter") { Description = "Adapter folder (adapter_config.json, adapter_model.safetensors).", Required = true };
        var output = Options.Out("Output model folder (config.json, model.safetensors, tokenizer).");
        var cmd = new Command("merge", "Merge a LoRA adapter into its base model.") { model, adapter, output };
        cmd.SetAction(p => SeekApp.Guard(() =>
        {
            var r = LoraMerge.Run(p.GetValue(model)!, p.GetValue(adapter)!, p.GetValue(output)!);
            AnsiConsole.MarkupLineInterpolated($"merged {r.Modules} adapted projections (r={r.Config.Rank}, alpha={r.Config.Alpha}) into [bold]{r.OutDir}[/]");
            return 0;
        }));
        return cmd;
    }
}
