using System.CommandLine;
using System.Globalization;
using SeekSharp.Checkpoints;
using SeekSharp.Compression;
using SeekSharp.Ledger;

namespace SeekSharp.Cli.Commands;

/// <summary>`seek prune experts`: remove the least salient routed experts, measured on calibration tokens.</summary>
public static class PruneCommand
{
    public static Command Create() => new("prune", "Make a model smaller by removing parts of it.") { Experts() };

    static Command Experts()
    {
        var model = new Option<string>("--model") { Description = "MoE model folder (config.json, model.safetensors, tokenizer.json).", Required = true };
        var fraction = new Option<double>("--keep-fraction")
        {
            Description = "Routed experts each MoE layer keeps: ceil(F x n_routed_experts), F in (0, 1]; at least num_experts_per_tok.", Required = true,
        };
        var calibration = new Option<string>("--calibration") { Description = "Token dataset folder (`seek data tokenize`) made with the model's tokenizer.", Required = true };
        var output = Options.Out("New model folder to write (must not exist or be empty); holds pruning.json beside the weights.");
        var tokens = new Option<long>("--tokens")
        {
            Description = "Calibration tokens, read from the split's start in windows of the model's context.",
            DefaultValueFactory = _ => ExpertPruningOptions.DefaultTokens,
        };
        var split = new Option<string>("--split") { Description = "Calibration split: train or val (keep val for measuring the result).", DefaultValueFactory = _ => "train" };
        split.AcceptOnlyFromAmong("train", "val");
        var hardware = Options.Hardware();
        var cmd = new Command("experts", "Remove the routed experts with the lowest REAP saliency (router weight x expert output norm) on calibration tokens.")
            { model, fraction, calibration, output, tokens, split, hardware };
        cmd.SetAction(p => SeekApp.Guard(() =>
        {
            var outDir = p.GetValue(output)!;
            using var ledger = RunLedger.Start("prune-experts", HardwareProfile.Resolve(p.GetValue(hardware)), runDir: Path.GetFullPath(outDir));
            var r = ExpertPruning.Run(p.GetValue(model)!, p.GetValue(calibration)!, outDir,
                new ExpertPruningOptions(p.GetValue(fraction), p.GetValue(split)!, p.GetValue(tokens)));
            // The calibration tokens and the time they took are this run's cost; the folder's bytes beside the source's show the saving.
            ledger.AddTokens(r.Tokens);
            ledger.RecordSourceModel(p.GetValue(model)!);
            ledger.RecordModelFolder(r.OutDir);
            var entry = ledger.Finish();
            entry.Write(Path.Combine(r.OutDir, "ledger.json"));
            var c = CultureInfo.InvariantCulture;
            Console.WriteLine(string.Create(c, $"calibrated on {r.Tokens:N0} tokens; kept {r.ExpertsAfter} of {r.ExpertsBefore} routed experts in each of {r.Layers.Count} MoE layers"));
            Console.WriteLine("layer  kept  removed  kept saliency        removed saliency     removed experts");
            foreach (var l in r.Layers)
                Console.WriteLine(string.Create(c, $"{l.Layer,5}  {l.Kept.Count,4}  {l.Removed.Count,7}  {Range(l.Kept),-19}  {Range(l.Removed),-19}  {string.Join(",", l.Removed.Select(x => x.Expert))}"));
            Console.WriteLine(string.Create(c, $"weights {r.BytesBefore:N0} -> {r.BytesAfter:N0} bytes ({(double)r.BytesAfter / r.BytesBefore:P1}); wrote {r.OutDir} ({ExpertPruning.ReportFile} lists what was removed)"));
            Console.WriteLine($"storage: {entry.Storage!.Summary()} (ledger: {Path.Combine(r.OutDir, "ledger.json")})");
            return 0;
        }));
        return cmd;
    }

    static string Range(IReadOnlyList<ExpertScore> xs) =>
        xs.Count == 0 ? "-" : string.Create(CultureInfo.InvariantCulture, $"{xs.Min(x => x.Saliency):G4}..{xs.Max(x => x.Saliency):G4}");
}
