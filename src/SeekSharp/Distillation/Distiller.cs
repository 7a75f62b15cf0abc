using System.Text;
using SeekSharp.Alignment;
using SeekSharp.Checkpoints;
using SeekSharp.IO;
using SeekSharp.Ledger;
using SeekSharp.Modeling;
using SeekSharp.Reasoning;
using SeekSharp.Tokenization;
using SeekSharp.Training;

namespace SeekSharp.Distillation;

// DeepSeek-R1's distillation of a reasoner into a small dense student, sequence-level (R1-Distill): the teacher
// writes traces for the task's training prompts through the one rejection sampler (K samples per prompt, only
// the verified-correct ones, exact duplicates dropped), then the student is fine-tuned on them by the one SFT
// trainer. `logits` (knowledge distillation) trains on the same teacher-written traces, with the SFT loss replaced
// by KdLoss over the teacher's top-k logits, cached once to disk (TeacherCache, TopKCache). Nothing here trains or samples by itself: it checks the pair, prepares the student and chains the two.
// The teacher's sampling bill is carried into the student's ledger (SftConfig.PriorCost), so OUT/ledger.json is
// what the student cost in all. A student from a preset starts from random weights with the teacher's tokenizer
// (and so its vocabulary); a student folder must already share the teacher's tokenizer (same hash), since the
// traces are the teacher's text and a second tokenizer would train the student on other tokens than it reads.
// Every check runs before anything is written; --out must be new or empty.

/// <summary>A distillation run.</summary>
public sealed record DistillOptions
{
    public required string TeacherDir { get; init; }
    /// <summary>Student model folder (one of this or <see cref="StudentPreset"/>).</summary>
    public string? StudentDir { get; init; }
    /// <summary>Student preset, random-initialized with the teacher's tokenizer.</summary>
    public string? StudentPreset { get; init; }
    public required string OutDir { get; init; }
    /// <summary>seq: SFT on the teacher's verified traces; logits: the same traces, the loss KdLoss over the teacher's cached top-k.</summary>
    public string Mode { get; init; } = "seq";
    public int TopK { get; init; } = 32;
    public double Tau { get; init; } = 2.0;
    public double Alpha { get; init; } = 0.5;
    /// <summary>The teacher cache (logits); null = OUT/teacher_topk.bin. An existing file is reused when its header matches.</summary>
    public string? CachePath { get; init; }
    public string Task { get; init; } = "arithmetic";
    /// <summary>Training prompts the teacher samples.</summary>
    public int Prompts { get; init; } = 256;
    /// <summary>Teacher samples per prompt (K).</summary>
    public int Samples { get; init; } = 8;
    public double Temperature { get; init; } = 1.0;
    public int MaxTokens { get; init; } = 128;
    public int Seed { get; init; } = 1;
    /// <summary>Student SFT settings: steps, lr, batch, precision, device, seed; epochs (when positive) set the steps.</summary>
    public TrainConfig Train { get; init; } = SftConfig.DefaultTrain;
    public double Epochs { get; init; }
    public double ValFraction { get; init; } = 0.05;
    public string? HardwareProfilePath { get; init; }
}

/// <summary>What a distillation run produced.</summary>
public sealed record DistillResult(string OutDir, string TracesPath, SampleResult Sampling, SftResult Student, string StudentStart);

public static class Distiller
{
    public const string TracesFile = "traces.jsonl";
    public const string StudentInitFolder = "student-init";
    public const string CacheFile = "teacher_topk.bin";
    public static readonly string[] Modes = ["seq", "logits"];

    public static DistillResult Run(DistillOptions o, ITrainingObserver? observer = null)
    {
        var teacherTok = Check(o);
        Directory.CreateDirectory(o.OutDir);
        string studentDir = o.StudentDir ?? InitStudent(o, teacherTok);

        observer?.OnMessage($"teacher {o.TeacherDir}: {o.Samples} samples of {o.Prompts} {o.Task} training prompts (T {o.Temperature}), verified traces only");
        var tracesPath = Path.Combine(o.OutDir, TracesFile);
        var sampling = RejectionSampling.Run(o.TeacherDir, o.Task, o.Prompts, o.Samples, tracesPath, o.MaxTokens, o.Temperature, o.Seed,
            o.Train.Precision, o.Train.Device, o.HardwareProfilePath);
        observer?.OnMessage($"teacher kept {sampling.Kept} distinct verified traces ({sampling.Correct} of {sampling.Samples} samples correct, {sampling.PromptsWithKept} prompts) in {sampling.Seconds:F0} s");
        if (sampling.Kept == 0)
            throw new SeekSharpException($"{tracesPath}: the teacher wrote no verified trace ({sampling.Samples} samples); raise --samples or --count, or use a stronger --teacher.");

        var sft = new SftConfig
        {
            ModelDir = studentDir, DataPath = tracesPath, OutDir = o.OutDir, Epochs = o.Epochs, ValFraction = o.ValFraction,
            HardwareProfilePath = o.HardwareProfilePath, Train = o.Train, PriorCost = sampling.Ledger, Distill = Kd(o),
        };
        var student = SftTrainer.Run(sft, observer);
        AppendReport(o, sampling, student, studentDir);
        return new DistillResult(o.OutDir, tracesPath, sampling, student, studentDir);
    }

    /// <summary>Every refusal before anything is written: flags, the teacher, the student and their tokenizers. Returns the teacher's tokenizer.</summary>
    public static BpeTokenizer Check(DistillOptions o)
    {
        if (!Modes.Contains(o.Mode)) throw new SeekSharpException($"--mode: expected one of {string.Join(", ", Modes)}, got '{o.Mode}'.");
        if ((o.StudentDir is null) == (o.StudentPreset is null))
            throw new SeekSharpException("--student / --student-preset: expected exactly one (a model folder or a preset name).");
        if (o.Prompts < 1) throw new SeekSharpException($"--count: expected 1 or more prompts, got {o.Prompts}.");
        if (o.Samples < 1) throw new SeekSharpException($"--samples: expected 1 or more, got {o.Samples}.");
        if (o.MaxTokens < 1) throw new SeekSharpException($"--max-tokens: expected 1 or more, got {o.MaxTokens}.");
        if (Directory.Exists(o.OutDir) && Directory.EnumerateFileSystemEntries(o.OutDir).Any())
            throw new SeekSharpException($"{o.OutDir}: --out must be a new or empty folder.");
        SyntheticTasksCheck(o.Task);
        new SftConfig { ModelDir = o.StudentDir ?? o.TeacherDir, OutDir = o.OutDir, Epochs = o.Epochs, ValFraction = o.ValFraction, Train = o.Train, Distill = Kd(o) }.Validate();
        if (o.Mode != "logits" && o.CachePath is not null) throw new SeekSharpException("--cache: only with --mode logits.");
        var teacherTok = LoadTokenizer(o.TeacherDir, "--teacher");
        if (!File.Exists(Path.Combine(o.TeacherDir, ModelFiles.ConfigFile)))
            throw new SeekSharpException($"{Path.Combine(o.TeacherDir, ModelFiles.ConfigFile)}: --teacher must be a model folder (config.json not found).");
        if (o.StudentPreset is { } preset) Presets.Get(preset);
        else
        {
            var studentTok = LoadTokenizer(o.StudentDir!, "--student");
            if (studentTok.Hash != teacherTok.Hash)
                throw new SeekSharpException($"{Path.Combine(o.StudentDir!, BpeTokenizer.FileNames[0])}: the student's tokenizer is {studentTok.Hash} but the teacher's "
                    + $"({Path.Combine(o.TeacherDir, BpeTokenizer.FileNames[0])}) is {teacherTok.Hash}; distillation needs one tokenizer (or use --student-preset).");
        }
        return teacherTok;
    }

    static KdSettings? Kd(DistillOptions o) => o.Mode != "logits" ? null : new KdSettings
    {
        TeacherDir = o.TeacherDir, CachePath = o.CachePath ?? Path.Combine(o.OutDir, CacheFile), K = o.TopK, Tau = o.Tau, Alpha = o.Alpha,
    };

    static void SyntheticTasksCheck(string task)
    {
        if (!TaskSource.IsFile(task)) SeekSharp.Data.Synthetic.SyntheticTasks.Get(task);
        else if (!File.Exists(task)) throw new SeekSharpException($"--task: {task} not found (expected arithmetic, countdown, finance or a synth JSONL).");
    }

    static BpeTokenizer LoadTokenizer(string dir, string flag)
    {
        if (!Directory.Exists(dir)) throw new SeekSharpException($"{flag} {dir}: model folder not found.");
        if (!File.Exists(Path.Combine(dir, BpeTokenizer.FileNames[0])))
            throw new SeekSharpException($"{Path.Combine(dir, BpeTokenizer.FileNames[0])}: {flag} needs a tokenizer in its folder (not found).");
        return BpeTokenizer.Load(dir);
    }

    /// <summary>A random-initialized model folder of the preset with the teacher's tokenizer, in OUT/student-init/.</summary>
    static string InitStudent(DistillOptions o, BpeTokenizer teacherTok)
    {
        var cfg = Presets.Get(o.StudentPreset!) with { VocabSize = teacherTok.VocabSize };
        var dir = Path.Combine(o.OutDir, StudentInitFolder);
        using var model = new Transformer(cfg.Validate($"preset '{o.StudentPreset}'"), o.Train.Seed);
        ModelFiles.Save(dir, model, tokenizerFrom: o.TeacherDir);
        return dir;
    }

    static void AppendReport(DistillOptions o, SampleResult s, SftResult r, string studentDir)
    {
        var path = Path.Combine(o.OutDir, "report.md");
        var md = new StringBuilder(File.Exists(path) ? File.ReadAllText(path) : "");
        md.AppendLine().AppendLine($"## Distillation ({o.Mode})").AppendLine();
        if (Kd(o) is { } kd)
            md.AppendLine(FormattableString.Invariant($"Loss: {kd.Alpha} x cross-entropy + {1 - kd.Alpha} x tau^2 x KL(teacher || student) at tau {kd.Tau} over the teacher's top-{kd.K} logits, cached in `{kd.CachePath}` ({new FileInfo(kd.CachePath).Length:N0} bytes).")).AppendLine();
        md.AppendLine($"Teacher `{o.TeacherDir}`; student {(o.StudentPreset is { } p ? $"preset `{p}` (random init, the teacher's tokenizer)" : $"`{studentDir}`")}.").AppendLine();
        md.AppendLine("| task | prompts | samples | correct | kept (distinct) | prompts kept | teacher seconds | teacher USD |");
        md.AppendLine("|---|---|---|---|---|---|---|---|");
        md.AppendLine(FormattableString.Invariant($"| {o.Task} | {s.Prompts} | {s.Samples} | {s.Correct} | {s.Kept} | {s.PromptsWithKept} | {s.Seconds:F0} | {s.Ledger.Usd:F6} |"));
        md.AppendLine().AppendLine(FormattableString.Invariant(
            $"The ledger above bills the teacher's sampling and the student's fine-tuning together: {r.Ledger.WallSeconds:F0} s, {r.Ledger.Usd:F6} USD."));
        AtomicFile.WriteAllText(path, md.ToString());
    }
}
