using SeekSharp.Data.Synthetic;
using SeekSharp.Ledger;
using SeekSharp.Reasoning;
using SeekSharp.Tests.Alignment;

namespace SeekSharp.Tests.Reasoning;

public class CurriculumTests
{
    static SyntheticProblem P(string op, long a, long b) => new($"What is {a} {op} {b}?", "", "", "arithmetic")
    {
        Task = "arithmetic",
        Parameters = new Dictionary<string, string> { ["op"] = op, ["a"] = a.ToString(), ["b"] = b.ToString(), ["template"] = "1", ["swapped"] = "false" },
    };

    static double[] Groups(int problems, double correct) => Enumerable.Repeat(correct, problems * 8).ToArray();

    [Fact]
    public void ABucketIsTheTaskAndEachParametersDigitCounts()
    {
        Assert.Equal(Curriculum.Bucket(P("+", 123, 45)), Curriculum.Bucket(P("+", 999, 10)));
        Assert.Equal("arithmetic|a=3;b=2;op=+", Curriculum.Bucket(P("+", 123, 45)));
        Assert.NotEqual(Curriculum.Bucket(P("+", 123, 45)), Curriculum.Bucket(P("+", 1234, 45)));
        Assert.NotEqual(Curriculum.Bucket(P("+", 123, 45)), Curriculum.Bucket(P("x", 123, 45)));
    }

    [Fact]
    public void BucketsAlwaysRightOrAlwaysWrongAreSkippedAfterFourGroupsAndCountedAsSaved()
    {
        var c = new Curriculum(8, seed: 1);
        var easy = P("+", 1, 2);       // always right
        var hard = P("x", 1234, 5678); // always wrong
        var mixed = P("-", 12, 34);    // half right
        for (int g = 1; g <= 4; g++)
        {
            var (chosen, skipped) = c.Choose([easy, hard, mixed], 3, g);
            Assert.Equal(0, skipped);   // evidence builds up over groups; nothing is skipped before
            Assert.Equal(3, chosen.Count);
            c.Observe([easy, hard, mixed], [.. Groups(1, 1), .. Groups(1, 0), .. Enumerable.Range(0, 8).Select(i => i % 2 == 0 ? 1.0 : 0.0)]);
        }
        Assert.True(c.ZeroVarianceChance(c.Estimate(easy).PassRate) >= Curriculum.SkipAbove);
        Assert.True(c.ZeroVarianceChance(c.Estimate(mixed).PassRate) < 0.1);
        var (next, n) = c.Choose([easy, P("x", 4321, 8765), mixed, P("-", 56, 78)], 2, 5);
        Assert.Equal(2, n);
        Assert.Equal([mixed.Prompt, "What is 56 - 78?"], next.Select(p => p.Prompt));
        Assert.Equal(2, c.SkippedGroups);
        Assert.Equal(16, c.RolloutsSaved);

        // Too few open candidates: the skipped with the lowest chance of a zero-variance group fill the step, not counted as saved.
        var (filled, n2) = c.Choose([easy, hard, mixed], 2, 6);
        Assert.Equal(1, n2);
        Assert.Equal(2, filled.Count);
        Assert.Contains(mixed, filled);
        Assert.Equal(3, c.SkippedGroups);
    }

    [Fact]
    public void PromptsAreSampledTowardsPassRatesNearOneHalf()
    {
        var c = new Curriculum(8, seed: 2);
        var mostly = P("+", 1, 2);     // 7 of 8 right: kept, but little to learn
        var even = P("-", 12, 34);     // 4 of 8
        for (int g = 0; g < 3; g++)
            c.Observe([mostly, even], [.. Enumerable.Range(0, 8).Select(i => i < 7 ? 1.0 : 0.0), .. Enumerable.Range(0, 8).Select(i => i < 4 ? 1.0 : 0.0)]);
        int evenFirst = 0;
        for (int step = 0; step < 400; step++)
        {
            var (chosen, skipped) = c.Choose([mostly, even], 1, step);
            Assert.Equal(0, skipped);
            if (chosen[0] == even) evenFirst++;
        }
        // Weights p(1 − p) + 0.02: about 0.27 against 0.13, so the even bucket is drawn about two times in three.
        Assert.InRange(evenFirst, 220, 320);
        Assert.Throws<ArgumentException>(() => c.Observe([even], Groups(2, 1)));
    }
}

/// <summary>--curriculum through the GRPO trainer, on a reward that is all right for additions and all wrong otherwise.</summary>
public class CurriculumGrpoTests(ChatModelFolder folder) : IClassFixture<ChatModelFolder>
{
    sealed class AdditionsRight : IReward
    {
        public string Name => AccuracyReward.RewardName;
        public double[] Score(IReadOnlyList<Rollout> rollouts) => [.. rollouts.Select(r => r.Problem.Param("op") == "+" ? 1.0 : 0.0)];
    }

    [Fact]
    public void TheCurriculumSkipsPredictedZeroVarianceGroupsCountsThemAndKeepsTheRolloutBudget()
    {
        // Three buckets (2-digit additions, subtractions, multiplications by a digit), all right or all wrong.
        var task = Path.Combine(folder.NewDir() + ".jsonl");
        var rng = new Random(4);
        File.WriteAllLines(task, Enumerable.Range(0, 600).Select(i => SyntheticData.ToJsonLine(new SyntheticRecord($"t-{i}", (i % 3) switch
        {
            0 => ArithmeticTask.Add(rng.Next(10, 100), rng.Next(10, 100)),
            1 => ArithmeticTask.Subtract(rng.Next(50, 100), rng.Next(10, 50)),
            _ => ArithmeticTask.Multiply(rng.Next(10, 100), rng.Next(2, 10)),
        }))));
        var outDir = folder.NewDir();
        var cfg = new GrpoConfig
        {
            ModelDir = folder.ModelDir, OutDir = outDir, Task = task, GroupSize = 4, PromptsPerStep = 2, MaxTokens = 2, Curriculum = true,
            Train = GrpoConfig.DefaultTrain with { Steps = 12, Precision = "fp32", Seed = 3 },
        };
        var r = GrpoTrainer.Run(cfg, rewardOverride: new RewardSet([(new AdditionsRight(), 1.0)]));
        var records = MetricsLog.Read(Path.Combine(outDir, MetricsLog.FileName)).Where(x => x.ContainsKey("curriculum_skipped_groups")).ToList();
        Assert.Equal(12, records.Count);
        long saved = records.Sum(x => (long)(double)x["curriculum_skipped_groups"]!) * 4;
        Assert.True(saved > 0, "every bucket here is all right or all wrong: the curriculum must skip some");
        Assert.Equal(saved, r.RolloutsSaved);
        Assert.Equal(saved, (long)(double)records[^1]["rollouts_saved"]!);
        Assert.Equal(saved, LedgerEntry.Read(Path.Combine(outDir, "ledger.json")).RolloutsSaved);
        Assert.Equal(12 * 2 * 4, r.Rollouts);   // the same rollouts per step as without it
        Assert.Equal(12 * 2, File.ReadAllLines(Path.Combine(outDir, TrainingPrompts.FileName)).Length);
        // The data side: every candidate drawn was read from the file, only the chosen ones were trained on.
        var source = Assert.Single(LedgerEntry.Read(Path.Combine(outDir, "ledger.json")).Data!.Sources);
        Assert.Equal((Path.GetFileName(task), 12L * 2 * Curriculum.Candidates, 12L * 2, new FileInfo(task).Length),
            (source.Name, source.DocumentsRead, source.DocumentsKept, source.BytesRead!.Value));

        var off = GrpoTrainer.Run(cfg with { OutDir = folder.NewDir(), Curriculum = false }, rewardOverride: new RewardSet([(new AdditionsRight(), 1.0)]));
        Assert.Null(off.RolloutsSaved);
        Assert.Null(off.Ledger.RolloutsSaved);
        var e = Assert.Throws<SeekSharpException>(() => GrpoTrainer.Run(cfg with { OutDir = folder.NewDir(), Resume = true }));
        Assert.StartsWith("--resume: not supported with --curriculum", e.Message);
    }
}
