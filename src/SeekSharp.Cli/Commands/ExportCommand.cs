using System.CommandLine;
using SeekSharp.Checkpoints;
using SeekSharp.Export;
using SeekSharp.Ledger;
using SeekSharp.Modeling;
using Spectre.Console;

namespace SeekSharp.Cli.Commands;

/// <summary>`seek export ...`: write a model in another program's format.</summary>
public static class ExportCommand
{
    public static Command Create() => new("export", "Write a model folder in another program's format.") { Gguf() };

    /// <summary>`seek export gguf`: llama.cpp's deepseek2 (MLA), llama (dense MHA) or glm4moe (MHA + MoE), tokenizer included.</summary>
    static Command Gguf()
    {
        var model = new Option<string>("--model") { Description = "Model folder (config.json, model.safetensors, tokenizer.json).", Required = true };
        var output = Options.Out("GGUF file to write (replaced only once it is complete).");
        var type = new Option<string>("--type") { Description = "Matrix storage: f16, f32, q8_0 or q4_0 (llama.cpp's 32-value blocks; token_embd q8_0 in both; rows not a multiple of 32 f16; norms, router and biases always f32).", DefaultValueFactory = _ => "f16" };
        var cmd = new Command("gguf", "Export a model as a GGUF file for llama.cpp (deepseek2 for MLA, llama for dense MHA, glm4moe for MHA + MoE).") { model, output, type };
        cmd.SetAction(p => SeekApp.Guard(() =>
        {
            var (modelDir, outPath) = (p.GetValue(model)!, p.GetValue(output)!);
            // The ledger goes beside the file as FILE.ledger (the convention of the recipe's samples.jsonl.ledger), never
            // as ledger.json, which would replace the ledger of a run folder exported into.
            using var ledger = RunLedger.Start("export-gguf", HardwareProfile.Resolve(null), runDir: Path.GetDirectoryName(Path.GetFullPath(outPath)));
            var r = GgufExport.Run(modelDir, outPath, p.GetValue(type)!);
            ledger.RecordSourceModel(modelDir);
            ledger.RecordStorage(r.Path, StorageKind.Export);
            var entry = ledger.Finish();
            entry.Write(r.Path + ".ledger");
            AnsiConsole.MarkupLineInterpolated($"wrote [bold]{r.Path}[/]: {r.Architecture}, {r.Type}, {r.Tensors} tensors, {r.Bytes:N0} bytes");
            if (r.DroppedMtpLayers > 0)
                AnsiConsole.MarkupLineInterpolated($"dropped {r.DroppedMtpLayers} MTP module(s) (model.layers.{ModelConfig.Load(Path.Combine(modelDir, ModelFiles.ConfigFile)).NumHiddenLayers}.*): llama.cpp runs no multi-token prediction; the file is the main model.");
            AnsiConsole.MarkupLineInterpolated($"storage: {entry.Storage!.Summary()} (ledger: {r.Path}.ledger)");
            return 0;
        }));
        return cmd;
    }
}
