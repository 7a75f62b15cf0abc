using System.CommandLine;
using SeekSharp.Checkpoints;
using SeekSharp.Compression;
using SeekSharp.Ledger;
using Spectre.Console;

namespace SeekSharp.Cli.Commands;

/// <summary>`seek quantize`: a model folder with q8_0, q4_0 or fp8 weights that every --model command loads.</summary>
public static class QuantizeCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Full-precision model folder (config.json, model.safetensors, tokenizer).", Required = true };
        var type = new Option<string>("--type") { Description = "q8_0 or q4_0 (llama.cpp's 32-value blocks, one fp16 scale each) or fp8 (E4M3, one fp32 scale per 128x128 block, DeepSeek-V3's layout).", Required = true };
        var output = Options.Out("Output model folder (new or empty; written under a temporary name, then renamed).");
        var hardware = Options.Hardware();
        var maxShard = new Option<string>("--max-shard-size") { Description = "Weights past this size are written as Hugging Face shards with model.safetensors.index.json: 5GB, 500MB, 2GiB.", DefaultValueFactory = _ => "5GB" };
        var cmd = new Command("quantize", "Write a quantized copy of a model folder (embeddings, norms and router stay full precision).") { model, type, output, hardware, maxShard };
        cmd.SetAction(p => SeekApp.Guard(() =>
        {
            var qtype = QuantizationConfig.ParseType(p.GetValue(type)!);
            var shardBytes = ModelFiles.ParseShardSize(p.GetValue(maxShard)!, "--max-shard-size");
            using var ledger = RunLedger.Start("quantize", HardwareProfile.Resolve(p.GetValue(hardware)), runDir: Path.GetFullPath(p.GetValue(output)!));
            var r = Quantizer.Run(p.GetValue(model)!, qtype, p.GetValue(output)!, shardBytes);
            // The source's weights as read beside the folder's as written: the saving shows in ledger.json.
            ledger.RecordSourceModel(p.GetValue(model)!);
            ledger.RecordModelFolder(r.OutDir);
            var entry = ledger.Finish();
            entry.Write(Path.Combine(r.OutDir, "ledger.json"));
            var table = new Table().AddColumns("tensors", "count", "quantized", "bytes before", "bytes after", "ratio");
            foreach (var k in r.Kinds)
                table.AddRow(k.Kind, k.Tensors.ToString(), k.Quantized.ToString(), k.BytesBefore.ToString("N0"), k.BytesAfter.ToString("N0"), Ratio(k.BytesAfter, k.BytesBefore));
            table.AddRow("[bold]total[/]", r.Kinds.Sum(k => k.Tensors).ToString(), r.Kinds.Sum(k => k.Quantized).ToString(),
                r.BytesBefore.ToString("N0"), r.BytesAfter.ToString("N0"), Ratio(r.BytesAfter, r.BytesBefore));
            AnsiConsole.Write(table);
            foreach (var why in r.KeptReasons) AnsiConsole.MarkupLineInterpolated($"kept: {why}");
            AnsiConsole.MarkupLineInterpolated($"wrote [bold]{r.OutDir}[/] ({QuantizationConfig.NameOf(r.Type)})");
            AnsiConsole.MarkupLineInterpolated($"storage: {entry.Storage!.Summary()} (ledger: {Path.Combine(r.OutDir, "ledger.json")})");
            return 0;
        }));
        return cmd;
    }

    static string Ratio(long after, long before) => before == 0 ? "-" : $"{(double)after / before:0.000}x";
}
