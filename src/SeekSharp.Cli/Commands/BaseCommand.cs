using System.CommandLine;
using SeekSharp.Checkpoints;
using SeekSharp.Distributed.Pipeline;
using SeekSharp.Modeling;
using SeekSharp.Reports;
using SeekSharp.Training;
using Spectre.Console;

namespace SeekSharp.Cli.Commands;

/// <summary>`seek base train`: pretrain a preset on a tokenized dataset.</summary>
public static class BaseCommand
{
    public static Command Create()
    {
        var data = new Option<string>("--data") { Description = "Dataset folder (from `seek data tokenize`).", Required = true };
        var preset = new Option<string>("--preset") { Description = $"Model preset: {string.Join(", ", Presets.Names)}.", DefaultValueFactory = _ => "tiny" };
        var output = Options.Out("Run folder: checkpoints, metrics.jsonl, ledger.json, report.");
        var steps = new Option<int>("--steps") { Description = "Optimizer steps in total.", DefaultValueFactory = _ => 200 };
        var resume = new Option<bool>("--resume") { Description = "Continue from the run folder's latest checkpoint." };
        var batch = new Option<int>("--batch-size") { Description = "Sequences per micro-batch.", DefaultValueFactory = _ => 16 };
        var accum = new Option<int>("--grad-accum") { Description = "Micro-batches per optimizer step.", DefaultValueFactory = _ => 1 };
        var seqLen = new Option<int>("--seq-len") { Description = "Tokens per sequence (0 = the preset's context).", DefaultValueFactory = _ => 0 };
        var lr = new Option<double>("--lr") { Description = "Peak learning rate.", DefaultValueFactory = _ => 3e-3 };
        var warmup = new Option<int>("--warmup") { Description = "Warmup steps.", DefaultValueFactory = _ => 20 };
        var precision = new Option<string>("--precision") { Description = "bf16 (fast path), fp32, or fp8 (DeepSeek-V3 E4M3 tile-scaled numerics, simulated).", DefaultValueFactory = _ => "bf16" };
        precision.AcceptOnlyFromAmong("bf16", "fp32", "fp8");
        var evalEvery = new Option<int>("--eval-every") { Description = "Validate every N steps.", DefaultValueFactory = _ => 50 };
        var ckptEvery = new Option<int>("--checkpoint-every") { Description = "Checkpoint every N steps.", DefaultValueFactory = _ => 100 };
        var seed = new Option<int>("--seed") { Description = "Seed for initialization and batches.", DefaultValueFactory = _ => 1337 };
        var mtpDepth = new Option<int>("--mtp-depth") { Description = "Multi-token prediction modules (DeepSeek-V3 MTP; 0 = none, 1 drafts a token for speculative decoding)." };
        var mtpWeight = new Option<string>("--mtp-weight") { Description = "MTP loss weight λ: a number, or w1@f1,...,wn (w1 for the first fraction f1 of the steps...).", DefaultValueFactory = _ => "0.3@0.7,0.1" };
        var select = new Option<string>("--select") { Description = "Online batch selection (RHO-LOSS): none, loss, or excess-loss (needs --reference).", DefaultValueFactory = _ => "none" };
        select.AcceptOnlyFromAmong("none", "loss", "excess-loss");
        var reference = new Option<string?>("--reference") { Description = "Reference model folder for --select excess-loss: a small model trained on held-out target data, same tokenizer." };
        var selectRatio = new Option<int>("--select-ratio") { Description = "With --select: score R x batch-size candidate windows, train on the top 1/R.", DefaultValueFactory = _ => 4 };
        var device = Options.Device();
        var hardware = Options.Hardware();
        var stages = new Option<int>("--pipeline-stages") { Description = "Split the model's layers over S stage processes (pipeline parallelism; 0 = one process)." };
        var micro = new Option<int>("--micro-batches") { Description = "Micro-batches per step in a pipeline (0 = as many as stages); must divide --batch-size." };
        var schedule = new Option<string>("--schedule") { Description = "Pipeline schedule: 1f1b (at most S micro-batches alive per stage) or gpipe.", DefaultValueFactory = _ => "1f1b" };
        schedule.AcceptOnlyFromAmong(PipelinePlan.Schedules);
        var balance = new Option<string>("--pipeline-balance") { Description = "Split by profiled per-layer time, or equal layer counts.", DefaultValueFactory = _ => "time" };
        balance.AcceptOnlyFromAmong("time", "layers");
        var expertParallel = new Option<int>("--expert-parallel") { Description = "Spread each MoE layer's routed experts over E processes (expert parallelism; ranges 1..E-1 in expert processes, alone or with --pipeline-stages).", DefaultValueFactory = _ => 1 };
        var cluster = new Option<string?>("--cluster") { Description = "Pipeline stages join from other machines through Redis membership: redis://HOST:PORT." };
        var host = new Option<string>("--host") { Description = "Address the pipeline driver listens on.", DefaultValueFactory = _ => "127.0.0.1" };
        var port = new Option<int>("--port") { Description = "Port pipeline stages connect to (the silo also takes PORT + 1).", DefaultValueFactory = _ => 30200 };
        var maxMemory = new Option<string?>("--max-memory") { Description = "Peak RSS each pipeline stage may reach, e.g. 800M or 2G (1024-based); a stage past it stops the run." };
        var maxShard = new Option<string>("--max-shard-size") { Description = "Checkpoints and the final model folder whose weights pass this size are written as Hugging Face shards with model.safetensors.index.json: 5GB, 500MB, 2GiB.", DefaultValueFactory = _ => "5GB" };
        var init = new Option<string?>("--init") { Description = "Start from this model folder's weights (continued pretraining); its config.json replaces --preset and its tokenizer must be the data's." };
        var train = new Command("train", "Pretrain a model from scratch (or --resume, or from --init's weights).")
            { data, preset, init, output, steps, resume, batch, accum, seqLen, lr, warmup, precision, evalEvery, ckptEvery, seed, mtpDepth, mtpWeight, select, reference, selectRatio, device, hardware,
              stages, micro, schedule, balance, expertParallel, cluster, host, port, maxMemory, maxShard };
        train.SetAction(p => SeekApp.Guard(() =>
        {
            var tc = new TrainConfig
            {
                Steps = p.GetValue(steps), BatchSize = p.GetValue(batch), GradAccum = p.GetValue(accum), SeqLen = p.GetValue(seqLen),
                LearningRate = p.GetValue(lr), WarmupSteps = p.GetValue(warmup), Precision = p.GetValue(precision)!,
                EvalEvery = p.GetValue(evalEvery), CheckpointEvery = p.GetValue(ckptEvery), Seed = p.GetValue(seed), Device = p.GetValue(device)!,
                MtpWeight = p.GetValue(mtpWeight)!, Select = p.GetValue(select)!, SelectRatio = p.GetValue(selectRatio),
                MaxShardBytes = ModelFiles.ParseShardSize(p.GetValue(maxShard)!, "--max-shard-size"),
            };
            int depth = p.GetValue(mtpDepth);
            if (depth < 0 || depth > ModelConfig.MaxMtpDepth)
                throw new SeekSharpException($"--mtp-depth: expected an integer from 0 to {ModelConfig.MaxMtpDepth}, found {depth}.");
            if (TrainConfig.ParseMtpWeight(tc.MtpWeight) is null)
                throw new SeekSharpException($"--mtp-weight: expected a number of 0 or more, or a schedule like 0.3@0.7,0.1 (fractions rising in (0, 1)), found '{tc.MtpWeight}'.");
            var initDir = p.GetValue(init);
            if (initDir is not null && p.GetResult(preset) is { Implicit: false })
                throw new SeekSharpException("--init and --preset: pass one; the --init folder's config.json is the architecture.");
            var model = initDir is not null ? Pretrainer.InitConfig(initDir, depth) : Presets.Get(p.GetValue(preset)!) with { NumNextnPredictLayers = depth };
            var opts = new PretrainOptions(p.GetValue(data)!, p.GetValue(output)!, model, tc, p.GetValue(resume), p.GetValue(hardware), p.GetValue(reference),
                InitDir: initDir);
            int s = p.GetValue(stages);
            if (s < 0) throw new SeekSharpException($"--pipeline-stages: expected 0 (one process) or more, found {s}.");
            int e = p.GetValue(expertParallel);
            PipelineEngine.CheckExpertParallel(e, model);
            if (e > 1 && s == 0) s = 1;   // the experts' processes hang off a pipeline of one stage
            if (s > 0 && tc.Select != "none")
                throw new SeekSharpException($"--select: online selection scores candidates with the whole model in one process; it does not combine with {(e > 1 ? "--expert-parallel" : "--pipeline-stages")}.");
            if (s > 0 && initDir is not null)
                throw new SeekSharpException($"--init: starting from a model folder runs in one process; it does not combine with {(e > 1 ? "--expert-parallel" : "--pipeline-stages")}.");
            PretrainResult result;
            if (s == 0) result = new TrainingProgress().Run("pretraining", obs => Pretrainer.Run(opts, obs));
            else
            {
                var po = new PipelineOptions
                {
                    Stages = s, ExpertParallel = e, MicroBatches = p.GetValue(micro), Schedule = p.GetValue(schedule)!, Balance = p.GetValue(balance)!, Cluster = p.GetValue(cluster),
                    Host = p.GetValue(host)!, Port = p.GetValue(port), MaxMemory = ParseBytes(p.GetValue(maxMemory), "--max-memory"),
                };
                PipelineHost.MicroBatches(po, model, tc);
                result = new TrainingProgress().Run(e > 1 ? $"pipeline of {s}, {e} expert ranges" : $"pipeline of {s}", obs => PipelineHost.Train(opts, po, obs, obs.OnMessage));
            }
            RunReport.Write(result.RunDir, "Pretraining");
            Print(result);
            return 0;
        }));
        return new Command("base", "Base-model (pretraining) commands.") { train };
    }

    /// <summary>A byte count: digits with an optional K, M or G (powers of 1024); null or empty is 0 (no limit).</summary>
    public static long ParseBytes(string? text, string flag)
    {
        if (string.IsNullOrWhiteSpace(text)) return 0;
        var t = text.Trim().ToUpperInvariant();
        long unit = t[^1] switch { 'K' => 1L << 10, 'M' => 1L << 20, 'G' => 1L << 30, _ => 1 };
        if (unit > 1) t = t[..^1];
        if (!double.TryParse(t, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var v) || v <= 0)
            throw new SeekSharpException($"{flag}: expected a size like 800M or 2G, found '{text}'.");
        return (long)(v * unit);
    }

    public static void Print(PretrainResult r)
    {
        var t = new Table().AddColumns("steps", "loss", "val loss", "tokens/s", "wall", "kWh", "gCO2", "USD");
        var l = r.Ledger;
        t.AddRow($"{r.Steps}", $"{r.FinalLoss:F3}", r.FinalValLoss is { } v ? $"{v:F3}" : "-", $"{r.TokensPerSecond:N0}",
            $"{TimeSpan.FromSeconds(l.WallSeconds):hh\\:mm\\:ss}", $"{l.EnergyKwh:F4}", $"{l.Co2Grams:F1}", $"{l.Usd:F4}");
        AnsiConsole.Write(t);
        if (r.FinalMtpLosses is { } mtp)
            AnsiConsole.MarkupLineInterpolated($"mtp loss by depth (last step, unweighted): {string.Join("  ", mtp.Select((x, i) => $"{i + 1}: {x:F3}"))}");
        if (r.Selection is { } sel)
            AnsiConsole.MarkupLineInterpolated($"selection ({sel.Score}, 1 of {sel.Ratio}): scored {sel.ScoredTokens:N0} candidate tokens for {sel.TrainedTokens:N0} trained, {sel.Flops / 1e9:F1} GFLOP ({100 * sel.Flops / Math.Max(l.ModelFlops, 1e-9):F0}% of the run's), inside tokens/s");
        if (l.Storage is { } storage) AnsiConsole.MarkupLineInterpolated($"storage: {storage.Summary()}");
        AnsiConsole.MarkupLineInterpolated($"resources: {SeekSharp.Reports.RunReport.ResourcesLine(l.Resources)}");
        var weights = File.Exists(Path.Combine(r.RunDir, ModelFiles.IndexFile)) ? $"model-*-of-*.safetensors + {ModelFiles.IndexFile}" : ModelFiles.WeightsFile;
        AnsiConsole.MarkupLineInterpolated($"run folder: [bold]{r.RunDir}[/] ({weights}, config.json, metrics.jsonl, ledger.json, report.md, loss.png)");
    }
}
