using SeekSharp.Alignment;
using SeekSharp.Checkpoints;
using SeekSharp.Data.Synthetic;
using SeekSharp.Distillation;
using SeekSharp.Ledger;
using SeekSharp.Modeling;
using SeekSharp.Reasoning;
using SeekSharp.Tests.Alignment;
using SeekSharp.Tests.Cli;
using SeekSharp.Tokenization;

namespace SeekSharp.Tests.Distillation;

[Collection("Console")] // the CLI cases redirect Console.Out
public class DistillTests : IClassFixture<ChatModelFolder>
{
    readonly ChatModelFolder f;
    public DistillTests(ChatModelFolder f) => this.f = f;

    static string OneError(int code, string output)
    {
        Assert.Equal(1, code);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Single(lines);
        Assert.StartsWith("error:", lines[0]);
        Assert.DoesNotContain("   at ", output);
        return lines[0];
    }

    static void NothingWritten(string dir) =>
        Assert.True(!Directory.Exists(dir) || !Directory.EnumerateFileSystemEntries(dir).Any(), $"{dir} should hold nothing");

    [Fact]
    public void A_student_with_another_tokenizer_is_refused_in_one_line_and_nothing_is_written()
    {
        var other = BpeTrainer.Train(["digits 0123456789 and words, other words, more words than before."], 300);
        Assert.NotEqual(f.Tokenizer.Hash, other.Hash);
        var studentDir = f.NewDir();
        using (var m = new Transformer(TestStudent(other.VocabSize), 3)) { other.Save(studentDir); ModelFiles.Save(studentDir, m); }
        var outDir = f.NewDir();
        var (code, output) = CliTests.Run("distill", "--teacher", f.ModelDir, "--student", studentDir, "--out", outDir);
        var line = OneError(code, output);
        Assert.Contains(Path.Combine(studentDir, "tokenizer.json"), line);
        Assert.Contains(other.Hash, line);
        Assert.Contains(f.Tokenizer.Hash, line);
        NothingWritten(outDir);
    }

    static ModelConfig TestStudent(int vocab) => Presets.Get("mini") with { VocabSize = vocab, NumHiddenLayers = 1, HiddenSize = 64, NumAttentionHeads = 2, NumKeyValueHeads = 2, QkRopeHeadDim = 32, VHeadDim = 32, IntermediateSize = 128 };

    [Theory]
    [InlineData("--mode", "--mode", "logitz")]
    [InlineData("--student / --student-preset")] // neither
    [InlineData("--student / --student-preset", "--student-preset", "mini", "--student", "STUDENT")] // both
    [InlineData("--samples", "--samples", "0")]
    [InlineData("--count", "--count", "0")]
    [InlineData("unknown preset 'huge'", "--student-preset", "huge")]
    [InlineData("--task", "--task", "no-such-task.jsonl")]
    public void Bad_flags_give_one_error_line_naming_the_flag_and_write_nothing(string named, params string[] extra)
    {
        var outDir = f.NewDir();
        var args = new List<string> { "distill", "--teacher", f.ModelDir, "--out", outDir };
        args.AddRange(extra.Select(a => a == "STUDENT" ? f.ModelDir : a));
        if (!args.Contains("--student-preset") && !args.Contains("--student") && named != "--student / --student-preset") args.AddRange(["--student-preset", "mini"]);
        var (code, output) = CliTests.Run([.. args]);
        Assert.Contains(named, OneError(code, output));
        NothingWritten(outDir);
    }

    [Fact]
    public void A_non_empty_out_and_a_missing_teacher_are_refused_and_left_as_they_were()
    {
        var outDir = f.NewDir();
        Directory.CreateDirectory(outDir);
        File.WriteAllText(Path.Combine(outDir, "keep.txt"), "good data");
        var (code, output) = CliTests.Run("distill", "--teacher", f.ModelDir, "--student-preset", "mini", "--out", outDir);
        var line = OneError(code, output);
        Assert.Contains(outDir, line);
        Assert.Equal(["keep.txt"], Directory.EnumerateFileSystemEntries(outDir).Select(Path.GetFileName));
        Assert.Equal("good data", File.ReadAllText(Path.Combine(outDir, "keep.txt")));

        var missing = Path.Combine(f.NewDir(), "no-teacher");
        var fresh = f.NewDir();
        (code, output) = CliTests.Run("distill", "--teacher", missing, "--student-preset", "mini", "--out", fresh);
        Assert.Contains(missing, OneError(code, output));
        NothingWritten(fresh);
    }

    [Fact]
    public void Seq_keeps_only_verified_distinct_traces_for_the_student()
    {
        var p = ArithmeticTask.Add(347, 589);       // 936
        var q = ArithmeticTask.Add(12, 30);         // 42
        var rollouts = new[]
        {
            new Rollout(p, "<think>347 + 589 = 936</think><answer>936</answer>", 20, true),
            new Rollout(p, "<think>347 + 589 = 936</think><answer>936</answer>", 20, true),   // duplicate
            new Rollout(p, "<think>guess</think><answer>935</answer>", 20, true),              // wrong
            new Rollout(p, "<think>347 + 589 = 936</think><answer>936", 20, false),           // cut off
            new Rollout(q, "42", 2, true),                                                    // right number, no format
            new Rollout(q, "<think>12 + 30</think><answer>42</answer>", 12, true),
        };
        var (lines, correct, prompts) = RejectionSampling.Keep(rollouts);
        Assert.Equal(3, correct);
        Assert.Equal(2, prompts);
        Assert.Equal(2, lines.Count);
        // The traces file is what the student's SFT reads: each line one verified conversation.
        var path = Path.Combine(f.NewDir() + "-traces.jsonl");
        File.WriteAllLines(path, lines);
        var examples = ChatData.Read(path);
        Assert.Equal(["<think>347 + 589 = 936</think><answer>936</answer>", "<think>12 + 30</think><answer>42</answer>"],
            examples.Select(e => e.Messages[^1].Content));
    }

    [Fact]
    public void A_teacher_that_verifies_nothing_trains_no_student()
    {
        // The fixture's random-weight teacher never writes a correct answer: the run must stop before the SFT, with
        // the traces file (empty) named, and no model in --out.
        var outDir = f.NewDir();
        var (code, output) = CliTests.Run("distill", "--teacher", f.ModelDir, "--student-preset", "mini", "--out", outDir,
            "--count", "2", "--samples", "2", "--max-tokens", "8");
        // The bar and the teacher's messages come first; the failure is one error line at the end.
        Assert.Equal(1, code);
        var line = Assert.Single(output.Split('\n'), l => l.Contains("error:")).Trim();
        Assert.Contains(Path.Combine(outDir, Distiller.TracesFile), line);
        Assert.Equal("", File.ReadAllText(Path.Combine(outDir, Distiller.TracesFile)));
        Assert.False(File.Exists(Path.Combine(outDir, ModelFiles.WeightsFile)));
    }

    [Fact]
    public void The_prior_cost_of_the_data_is_billed_in_the_students_ledger()
    {
        var prior = LedgerEntry.Compute("sample", DateTime.UtcNow.AddMinutes(-5), DateTime.UtcNow.AddMinutes(-4), 60, 55, 1000, 1e9, 0, "estimate",
            HardwareProfile.Resolve(null), null);
        var outDir = f.NewDir();
        var r = SftTrainer.Run(new SftConfig
        {
            ModelDir = f.ModelDir, DataPath = f.PingPong(8), OutDir = outDir, ValFraction = 0, PriorCost = prior,
            Train = SftConfig.DefaultTrain with { Steps = 1, BatchSize = 4, WarmupSteps = 0 },
        });
        Assert.True(r.Ledger.WallSeconds >= 60, $"wall {r.Ledger.WallSeconds}");
        Assert.True(r.Ledger.Tokens > 1000);
        Assert.True(r.Ledger.Usd > prior.Usd);
        Assert.Equal(r.Ledger.WallSeconds, LedgerEntry.Read(Path.Combine(outDir, "ledger.json")).WallSeconds);
    }

    [Fact]
    public void The_mini_preset_is_a_dense_student_of_about_three_million_parameters()
    {
        // With the R1 recipe's arithmetic tokenizer (713 tokens), as `--student-preset mini` builds it from that teacher.
        var cfg = Presets.Get("mini") with { VocabSize = 713 };
        Assert.Equal(0, cfg.NRoutedExperts);
        using var m = new Transformer(cfg, 1);
        long n = m.parameters().Sum(t => t.numel());
        Assert.InRange(n, 3_000_000, 3_600_000);
    }

    [Fact]
    public void Logit_distillation_trains_through_the_sft_step_and_reuses_or_refuses_its_cache()
    {
        var data = f.PingPong(8);
        var cache = f.NewDir() + "-kd.bin";
        var kd = new KdSettings { TeacherDir = f.ModelDir, CachePath = cache, K = 8, Tau = 2, Alpha = 0.5 };
        SftConfig Cfg(KdSettings? k) => new()
        {
            ModelDir = f.ModelDir, DataPath = data, OutDir = f.NewDir(), ValFraction = 0, Distill = k,
            Train = SftConfig.DefaultTrain with { Steps = 2, BatchSize = 4, WarmupSteps = 0 },
        };
        var a = SftTrainer.Run(Cfg(kd));
        Assert.Equal(0, (new FileInfo(cache).Length - TopKCache.HeaderBytes) % (8 * 6)); // header + k fp16 values and k int32 ids a position
        var written = File.GetLastWriteTimeUtc(cache);
        var b = SftTrainer.Run(Cfg(kd));
        Assert.Equal(a.FinalLoss, b.FinalLoss);                 // the cache, not a new teacher pass, gave the same targets
        Assert.Equal(written, File.GetLastWriteTimeUtc(cache));
        Assert.NotEqual(SftTrainer.Run(Cfg(null)).FinalLoss, a.FinalLoss);

        // Another teacher (same tokenizer, other weights) must not read this cache.
        var other = f.NewDir();
        using (var m = new Transformer(f.Config, seed: 99)) { f.Tokenizer.Save(other); ModelFiles.Save(other, m); }
        var e = Assert.Throws<SeekSharpException>(() => SftTrainer.Run(Cfg(kd with { TeacherDir = other })));
        Assert.StartsWith(cache + ": header teacher hash is", e.Message);
    }
}
