using System.Text.Json;
using SeekSharp.Alignment;
using SeekSharp.Checkpoints;
using SeekSharp.Data;
using SeekSharp.Data.Synthetic;
using SeekSharp.IO;
using SeekSharp.Ledger;
using SeekSharp.Modeling;
using SeekSharp.Reasoning;
using SeekSharp.Reports;
using SeekSharp.Tokenization;
using SeekSharp.Training;

namespace SeekSharp.Recipes;

// DeepSeek-R1's pipeline at laptop scale, every stage the library call its own command makes, folders in
// between: (1) a pretraining corpus of the task's worked problems (held-out bucket excluded) plus some
// English, a tokenizer, shards, pretraining; (2) a small cold-start SFT in the R1 format (1,000 problems;
// see ColdStartSteps for how its size trades RL's gain against the final model); (3) GRPO for a fixed
// number of minutes; (4) rejection sampling from the RL model; (5) SFT on the kept samples; (6) a second
// GRPO round. Held-out pass@1 is measured after every stage after pretraining (the base model does not
// speak the chat format). A stage whose folder already holds a finished model (ledger.json written last)
// made with the same settings is reused, so an interrupted recipe continues where it stopped (see
// StageSettings). Finishing a stage is one atomic step: a stage records its settings in its folder BEFORE it
// runs and the trainer writes ledger.json last, so a folder with a model and a ledger always says what made it
// (a kill can no longer leave a finished stage without its settings); an interrupted pretraining with the same
// settings resumes from its latest checkpoint instead of starting over. Rejection sampling is cached like the
// evaluations: its summary and settings are written after samples.jsonl, the settings last. `--base RUN` starts
// from an existing pretrained model folder instead of stage 1. Why the defaults are what they are:
// docs/decisions/0009.

/// <summary>Settings of `seek recipe r1`.</summary>
public sealed record R1Options
{
    public string OutDir { get; init; } = "r1";
    /// <summary>Model preset to pretrain.</summary>
    public string Preset { get; init; } = "small";
    /// <summary>Synthetic task of every stage (arithmetic, countdown or finance).</summary>
    public string Task { get; init; } = "arithmetic";
    /// <summary>Pretrained model folder to start from; null = build corpus, tokenizer and pretrain.</summary>
    public string? BaseModel { get; init; }
    public int Documents { get; init; } = 60_000;
    /// <summary>Share of corpus documents that are the task's problems (the rest: templated English).</summary>
    public double ProblemFraction { get; init; } = 0.9;
    public int Vocab { get; init; } = 1024;
    /// <summary>Pretraining steps. 1,600 (37 minutes on 2 cores) rather than 800: validation loss 0.346 against 0.380, and a
    /// base that has the three-digit skill; the cold start on it went from 35.7 % to 73.1 % held-out pass@1 at 100 steps
    /// (docs/decisions/0009, "A longer pretraining").</summary>
    public int PretrainSteps { get; init; } = 1600;
    public double PretrainLr { get; init; } = 1.5e-3;
    public int BatchSize { get; init; } = 16;
    /// <summary>Problems in the cold-start SFT set.</summary>
    public int ColdStartExamples { get; init; } = 1000;
    /// <summary>Cold-start SFT steps. On the 1,600-step base, 100 steps give the better model (held-out pass@1 73.1 %, then
    /// 86.4 % after 30 minutes of GRPO: +13.3); 55 steps teach the format (90.8 %) but not yet the task (31.1 %), and the
    /// same GRPO then gains +43.4 to 74.5 %: more for RL to teach, a weaker model at the end (docs/decisions/0009, "A longer
    /// pretraining"). The default is the better model; `--cold-start-steps 55` shows what RL alone learns.</summary>
    public int ColdStartSteps { get; init; } = 100;
    public double SftLr { get; init; } = 3e-4;
    /// <summary>Minutes of the first and second GRPO rounds.</summary>
    public double MinutesRl { get; init; } = 30;
    public double MinutesRl2 { get; init; } = 10;
    /// <summary>GRPO settings of both rounds (model, out, task and minutes are set per round). Tuned on this recipe's
    /// cold-start model (docs/decisions/0009, "Closing the gap"): 16 prompts × 8 per step decoded as one 128-row batch,
    /// rollouts at the evaluation's temperature 0.6, lr 3e-5 after 20 warmup steps (5 cost every run its first 25
    /// steps: Adam's first updates are sign-like).</summary>
    public GrpoConfig Grpo { get; init; } = new()
    {
        EvalEvery = 25, EvalCount = 100, MaxTokens = DefaultMaxTokensArithmetic,
        PromptsPerStep = 16, RolloutRows = 128, Temperature = 0.6,
        Train = GrpoConfig.DefaultTrain with { LearningRate = 3e-5, WarmupSteps = 20 },
    };
    /// <summary>Prompts and samples per prompt of rejection sampling.</summary>
    public int SamplePrompts { get; init; } = 256;
    public int SampleK { get; init; } = 8;
    public int RsSftSteps { get; init; } = 60;
    /// <summary>Learning rate of the rejection-sampling SFT: the RL model's own samples need a nudge, not the cold
    /// start's 3e-4, which cost 10–14 points of pass@1 (docs/decisions/0009, "Rejection-sampling SFT").</summary>
    public double RsSftLr { get; init; } = 3e-5;
    /// <summary>Held-out problems and samples per problem of each stage's evaluation.</summary>
    public int EvalCount { get; init; } = 200;
    public EvalOptions Eval { get; init; } = new(Samples: 8, K: 8, MaxTokens: DefaultMaxTokensArithmetic);

    /// <summary>Completion tokens at most for arithmetic, RL and evaluation (see R1Recipe.DefaultMaxTokens).</summary>
    public const int DefaultMaxTokensArithmetic = 128;
    public int Seed { get; init; } = 1337;
    public string Precision { get; init; } = "bf16";
    public string Device { get; init; } = "cpu";
    public string? HardwareProfilePath { get; init; }
}

/// <summary>One stage of the recipe: its folder, evaluation (if any) and cost.</summary>
public sealed record R1Stage(string Name, string Dir, EvalResult? Eval, LedgerEntry Ledger, LedgerEntry? EvalLedger, string Note);

public sealed record R1Result(string OutDir, IReadOnlyList<R1Stage> Stages, string ReportPath);

public static class R1Recipe
{
    /// <summary>Completion budget that covers the task's worked solutions: the longest reference arithmetic completion is
    /// under 100 tokens with either recipe tokenizer, countdown's and finance's under 140. A tighter cap matters because a
    /// batch decodes until its longest row stops.</summary>
    public static int DefaultMaxTokens(string task) => SyntheticTasks.Get(task).Id == ArithmeticTask.CheckerId ? R1Options.DefaultMaxTokensArithmetic : 160;

    public static R1Result Run(R1Options o, ITrainingObserver? observer = null)
    {
        void Say(string m) => observer?.OnMessage(m);
        var task = SyntheticTasks.Get(o.Task);
        Directory.CreateDirectory(o.OutDir);
        var stages = new List<R1Stage>();
        string Dir(string name) => Path.Combine(o.OutDir, name);

        var (baseDir, baseKey) = o.BaseModel is { } given
            ? (given, $"--base {Path.GetFullPath(given)}")
            : Pretrain(o, task, Dir, Say, observer, stages);
        if (o.BaseModel is not null) Say($"[1/6] starting from the pretrained model {o.BaseModel}");

        Say($"[2/6] cold-start SFT on {o.ColdStartExamples} {task.Id} problems in the R1 format -> {Dir("sft-cold")}");
        var coldProblems = TaskSource.Training(task.Id, o.Seed + 1).Take(o.ColdStartExamples).ToList();
        var (cold, coldKey) = Sft(o, "cold-start SFT", baseDir, baseKey, Dir("sft-cold"), () => ChatData.FromProblems(coldProblems, "cold-start"),
            o.ColdStartSteps, o.SftLr, null, coldProblems, Say, observer, ("--cold-start", o.ColdStartExamples));
        stages.Add(Evaluate(o, "cold-start SFT", Dir("sft-cold"), coldKey, cold, Say, $"{o.ColdStartExamples} examples, {o.ColdStartSteps} steps"));

        Say($"[3/6] GRPO for {o.MinutesRl} minutes -> {Dir("rl1")}");
        var (rl1, rl1Key) = Grpo(o, "GRPO round 1", Dir("sft-cold"), coldKey, Dir("rl1"), o.MinutesRl, o.Seed + 2, Say, observer);
        stages.Add(Evaluate(o, "GRPO round 1", Dir("rl1"), rl1Key, rl1, Say, RlNote(Dir("rl1"))));

        var samplesPath = Dir("samples.jsonl");
        Say($"[4/6] rejection sampling: {o.SampleK} completions of {o.SamplePrompts} prompts -> {samplesPath}");
        var sampling = new { prompts = o.SamplePrompts, k = o.SampleK, max_tokens = o.Grpo.MaxTokens, temperature = 1.0, seed = o.Seed + 3 };
        var rs = CachedSamples(samplesPath, StageSettings.Of("rejection sampling", rl1Key, ("--task", task.Id), ("samples", sampling), ("precision", o.Precision)), say: Say,
            () => RejectionSampling.Run(Dir("rl1"), task.Id, sampling.prompts, sampling.k, samplesPath, sampling.max_tokens, sampling.temperature, sampling.seed,
                o.Precision, o.Device, o.HardwareProfilePath),
            () => TaskSource.Training(task.Id, sampling.seed).Take(sampling.prompts).ToList());
        stages.Add(new R1Stage("rejection sampling", samplesPath, null, rs.Ledger, null,
            $"{rs.Correct} of {rs.Samples} samples correct, {rs.Kept} distinct kept from {rs.PromptsWithKept} prompts"));

        var (last, lastKey) = (Dir("rl1"), rl1Key);
        if (rs.Kept > 0)
        {
            Say($"[5/6] SFT on the {rs.Kept} kept samples -> {Dir("sft-rs")}");
            var (sft, sftKey) = Sft(o, "rejection-sampling SFT", Dir("rl1"), rl1Key, Dir("sft-rs"), () => ChatData.Read(samplesPath), o.RsSftSteps, o.RsSftLr,
                Dir("rl1"), rs.Problems, Say, observer, ("samples", sampling));
            stages.Add(Evaluate(o, "rejection-sampling SFT", Dir("sft-rs"), sftKey, sft, Say, $"{rs.Kept} samples, {o.RsSftSteps} steps at lr {o.RsSftLr:G3}"));
            (last, lastKey) = (Dir("sft-rs"), sftKey);
        }
        else Say("[5/6] no sample was correct: skipping the rejection-sampling SFT");

        Say($"[6/6] GRPO round 2 for {o.MinutesRl2} minutes -> {Dir("rl2")}");
        var (rl2, rl2Key) = Grpo(o, "GRPO round 2", last, lastKey, Dir("rl2"), o.MinutesRl2, o.Seed + 4, Say, observer);
        stages.Add(Evaluate(o, "GRPO round 2", Dir("rl2"), rl2Key, rl2, Say, RlNote(Dir("rl2"))));

        var report = R1Report.Write(o, stages);
        return new R1Result(o.OutDir, stages, report);
    }

    static (string Dir, string Key) Pretrain(R1Options o, ISyntheticTask task, Func<string, string> dir, Action<string> say, ITrainingObserver? observer, List<R1Stage> stages)
    {
        var runDir = dir("pretrain");
        var tc = new TrainConfig
        {
            Steps = o.PretrainSteps, BatchSize = o.BatchSize, LearningRate = o.PretrainLr, Precision = o.Precision, Seed = o.Seed, Device = o.Device,
            WarmupSteps = Math.Min(40, o.PretrainSteps / 10), EvalEvery = Math.Max(1, o.PretrainSteps / 8), CheckpointEvery = Math.Max(1, o.PretrainSteps / 4),
            BiasUpdateSpeed = 0.01,
        };
        var settings = StageSettings.Of("pretraining", null, ("--preset", o.Preset), ("--task", task.Id), ("--documents", o.Documents),
            ("problem_fraction", o.ProblemFraction), ("vocab", o.Vocab), ("train", tc with { Device = "" }));
        string note = "reused";
        var (ledger, key) = Stage(runDir, settings, say, resume =>
        {
            // The data is complete once pretraining has checkpointed (the run folder is made after it), and it is
            // deterministic in the seed: a resumed stage trains on what it started with.
            if (!resume)
            {
                var corpus = Path.Combine(dir("corpus"), "corpus.jsonl");
                say($"[1/6] corpus of {o.Documents:N0} documents ({o.ProblemFraction:P0} {task.Id} problems, held-out bucket excluded), tokenizer, shards, pretraining '{o.Preset}' for {o.PretrainSteps} steps -> {runDir}");
                SyntheticCorpus.Write(corpus, o.Documents, o.Seed, [(task, 1.0)], o.ProblemFraction, p => !HeldOut.IsHeldOut(p));
                TokenizerTraining.Run([corpus], o.Vocab, dir("tokenizer"), splitDigits: true);
                DatasetBuilder.Tokenize([corpus], dir("tokenizer"), dir("data"));
            }
            var r = Pretrainer.Run(new PretrainOptions(dir("data"), runDir, Presets.Get(o.Preset), tc, resume, o.HardwareProfilePath), observer);
            RunReport.Write(runDir, "r1 recipe: pretraining");
            LedgerEntry.RecordStorage(Path.Combine(runDir, "ledger.json"), // what this stage made before pretraining, beside it
                [(dir("corpus"), StorageKind.Data), (dir("tokenizer"), StorageKind.Other), (dir("data"), StorageKind.Data)]);
            note = $"{o.PretrainSteps} steps, final loss {r.FinalLoss:F3}";
            return r.Ledger;
        }, resumable: true);
        stages.Add(new R1Stage("pretraining", runDir, null, ledger, null, note));
        return (runDir, key);
    }

    static (LedgerEntry Ledger, string Key) Sft(R1Options o, string stage, string from, string fromKey, string outDir, Func<IReadOnlyList<ChatExample>> examples,
        int steps, double lr, string? lineageParent, IEnumerable<SyntheticProblem> problems, Action<string> say, ITrainingObserver? observer,
        (string Name, object Value) data)
    {
        var cfg = new SftConfig
        {
            ModelDir = from, OutDir = outDir, ValFraction = 0.05, HardwareProfilePath = o.HardwareProfilePath,
            Train = SftConfig.DefaultTrain with
            {
                Steps = steps, LearningRate = lr, WarmupSteps = Math.Min(5, steps / 5), BatchSize = o.BatchSize, Precision = o.Precision,
                Seed = o.Seed, Device = o.Device, EvalEvery = Math.Max(1, steps / 3),
            },
        };
        var settings = StageSettings.Of(stage, fromKey, ("--task", o.Task), data, ("sft", cfg with { ModelDir = "", OutDir = "", Train = cfg.Train with { Device = "" } }));
        return Stage(outDir, settings, say, () =>
        {
            var r = SftTrainer.Run(cfg, examples(), observer);
            TrainingPrompts.WriteLineage(outDir, lineageParent, problems, "sft");
            return r.Ledger;
        });
    }

    static (LedgerEntry Ledger, string Key) Grpo(R1Options o, string stage, string from, string fromKey, string outDir, double minutes, int seed,
        Action<string> say, ITrainingObserver? observer)
    {
        var cfg = o.Grpo with
        {
            ModelDir = from, OutDir = outDir, Task = o.Task, Minutes = minutes, HardwareProfilePath = o.HardwareProfilePath,
            Train = o.Grpo.Train with { Steps = minutes > 0 ? Math.Max(o.Grpo.Train.Steps, 100_000) : o.Grpo.Train.Steps, Seed = seed, Precision = o.Precision, Device = o.Device },
        };
        var settings = StageSettings.Of(stage, fromKey,
            ("grpo", cfg with { ModelDir = "", OutDir = "", HardwareProfilePath = null, Train = cfg.Train with { Device = "" } }));
        return Stage(outDir, settings, say, () => GrpoTrainer.Run(cfg, observer).Ledger);
    }

    /// <summary>A model stage: the finished folder's ledger when it was made with <paramref name="settings"/>, else it runs:
    /// the settings are recorded in the folder first, then <paramref name="run"/> (with true when it is to resume an
    /// interrupted run of the same settings from its latest checkpoint: only for <paramref name="resumable"/> stages); with
    /// the key the next stage records as its parent.</summary>
    static (LedgerEntry Ledger, string Key) Stage(string dir, StageSettings settings, Action<string> say, Func<bool, LedgerEntry> run,
        bool resumable = false)
    {
        var path = Path.Combine(dir, StageSettings.FileName);
        if (Finished(dir, settings, say) is { } done) return (done, settings.Key);
        bool resume = resumable && TrainingCheckpoint.Latest(dir) is not null && StageSettings.Read(path)?.Differences(settings) is { Count: 0 };
        if (resume) say($"{settings.Stage}: resuming the interrupted stage in {dir} from its latest checkpoint");
        else
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true); // an interrupted run that cannot resume starts afresh
            Directory.CreateDirectory(dir);
            settings.Write(path);
        }
        var entry = run(resume);
        // The folder's ledger.json is the trainer's entry plus what was written after it (report, plots, the recipe's data).
        var written = Path.Combine(dir, "ledger.json");
        return (File.Exists(written) ? LedgerEntry.Read(written) : entry, settings.Key);
    }

    static (LedgerEntry Ledger, string Key) Stage(string dir, StageSettings settings, Action<string> say, Func<LedgerEntry> run) =>
        Stage(dir, settings, say, _ => run());

    /// <summary>The ledger of a finished stage folder (model weights present, ledger.json written last) made with
    /// <paramref name="now"/>, or null when the stage has to run. A finished folder made with other settings is an error
    /// that names them; nothing is deleted (see StageSettings).</summary>
    static LedgerEntry? Finished(string dir, StageSettings now, Action<string> say)
    {
        var ledger = Path.Combine(dir, "ledger.json");
        if (!File.Exists(ledger) || !ModelFiles.HasWeights(dir)) return null;
        var made = StageSettings.Read(Path.Combine(dir, StageSettings.FileName));
        if (made is null) say($"{dir}: a finished {now.Stage} stage from before the recipe recorded its settings; reused as it is");
        else if (made.Differences(now) is { Count: > 0 } diff)
            throw new SeekSharpException($"{dir} holds a finished {now.Stage} stage made with other settings ({string.Join("; ", diff)}). "
                + $"Run with another --out, or delete {dir} and the stages after it to redo them.");
        else say($"{now.Stage}: reusing the finished stage in {dir}");
        return LedgerEntry.Read(ledger);
    }

    /// <summary>Rejection sampling, cached beside its output: PATH (the samples), PATH.summary.json (the counts),
    /// PATH.ledger, and PATH.settings.json written last, so only a complete cache made with <paramref name="settings"/>
    /// is reused; anything else samples again (like an evaluation, it is derived data, cheaper to redo than to doubt).</summary>
    static SampleResult CachedSamples(string path, StageSettings settings, Action<string> say, Func<SampleResult> run,
        Func<IReadOnlyList<SyntheticProblem>> problems)
    {
        string summaryPath = path + ".summary.json", ledgerPath = path + ".ledger", settingsPath = path + ".settings.json";
        var made = StageSettings.Read(settingsPath);
        if (made is not null && File.Exists(path) && File.Exists(summaryPath) && File.Exists(ledgerPath))
        {
            if (made.Differences(settings) is { Count: 0 })
            {
                var c = JsonSerializer.Deserialize<SampleCounts>(File.ReadAllText(summaryPath))
                        ?? throw new SeekSharpException($"{summaryPath}: empty file (expected the rejection-sampling counts)");
                say($"rejection sampling: reusing {path}");
                return new SampleResult(path, c.Prompts, c.Samples, c.Correct, c.Kept, c.PromptsWithKept, c.Seconds, problems(), LedgerEntry.Read(ledgerPath));
            }
            say($"rejection sampling: {path} was made with other settings ({string.Join("; ", made.Differences(settings))}); sampling again");
        }
        File.Delete(settingsPath); // the marker goes first, so a kill while resampling never pairs old settings with new samples
        var r = run();
        AtomicFile.WriteAllText(summaryPath, JsonSerializer.Serialize(new SampleCounts(r.Prompts, r.Samples, r.Correct, r.Kept, r.PromptsWithKept, r.Seconds)));
        r.Ledger.Write(ledgerPath);
        settings.Write(settingsPath);
        return r;
    }

    sealed record SampleCounts(int Prompts, int Samples, int Correct, int Kept, int PromptsWithKept, double Seconds);

    /// <summary>Held-out evaluation of a stage's model, cached in the folder's eval.json with the settings that produced it
    /// (eval_settings.json): a cache made with other evaluation settings, or for another model, is measured again.</summary>
    static R1Stage Evaluate(R1Options o, string name, string dir, string stageKey, LedgerEntry cost, Action<string> say, string note)
    {
        var cached = Path.Combine(dir, "eval.json");
        var settingsPath = Path.Combine(dir, "eval_settings.json");
        var settings = StageSettings.Of("evaluation", stageKey, ("--task", o.Task), ("--eval-count", o.EvalCount), ("eval", o.Eval), ("precision", o.Precision));
        bool hasCache = File.Exists(cached) && File.Exists(cached + ".ledger");
        var changed = hasCache ? StageSettings.Read(settingsPath)?.Differences(settings) : null;
        bool reuse = hasCache && changed is { Count: 0 }; // no settings beside a result: a write that did not finish
        EvalResult r;
        LedgerEntry evalCost;
        if (reuse)
        {
            r = JsonSerializer.Deserialize<EvalResult>(File.ReadAllText(cached))
                ?? throw new SeekSharpException($"{cached}: empty evaluation file (expected an evaluation result object)");
            evalCost = LedgerEntry.Read(cached + ".ledger");
        }
        else
        {
            if (changed is not null) say($"{name}: the cached evaluation used other settings ({string.Join("; ", changed)}); measuring again");
            File.Delete(settingsPath); // settings are the marker, written last: never old settings beside a new result
            using var ledger = RunLedger.Start("eval", HardwareProfile.Resolve(o.HardwareProfilePath), runDir: dir);
            r = Evaluation.RunFolder(dir, o.Task, o.EvalCount, [], o.Eval, o.Precision, o.Device);
            long tokens = (long)(r.MeanTokens * r.Problems * r.Samples);
            ledger.AddTokens(tokens);
            ledger.AddFlops(ModelCost.Of(ModelConfig.Load(Path.Combine(dir, ModelFiles.ConfigFile))).ForwardFlopsPerToken * tokens);
            AtomicFile.WriteAllText(cached, JsonSerializer.Serialize(r, new JsonSerializerOptions { WriteIndented = true }));
            ledger.RecordStorage(cached, StorageKind.Report);
            evalCost = ledger.Finish();
            evalCost.Write(cached + ".ledger");
            settings.Write(settingsPath);
        }
        say($"{name}: held-out pass@1 {r.PassAt1:P1}, pass@{r.K} {r.PassAtK:P1}, format {r.FormatRate:P1}, {r.MeanTokens:F0} tokens");
        return new R1Stage(name, dir, r, cost, evalCost, note);
    }

    static string RlNote(string dir)
    {
        var records = MetricsLog.Read(Path.Combine(dir, MetricsLog.FileName)).Where(r => r["reward"] is not null).ToList();
        if (records.Count == 0) return "no steps";
        return $"{records.Count} steps, {RunReport.Num(records[^1]["rl_seconds"]) / 60:F1} min of RL";
    }
}
