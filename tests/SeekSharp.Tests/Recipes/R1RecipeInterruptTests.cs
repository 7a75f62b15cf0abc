using SeekSharp.Reasoning;
using SeekSharp.Recipes;
using SeekSharp.Training;

namespace SeekSharp.Tests.Recipes;

/// <summary>
/// A recipe stopped anywhere continues without losing or mislabelling work: a stage's settings are in its folder
/// before it trains (so a finished model never lacks them), an interrupted pretraining resumes from its checkpoint,
/// and rejection sampling is reused when its settings are unchanged. The interruption is an exception thrown from
/// the progress observer, the same point a kill would hit between two steps.
/// </summary>
public class R1RecipeInterruptTests : TempDirTest
{
    sealed class Interrupted : Exception;

    /// <summary>Collects messages; throws on the given step of the given stage's training (the Nth OnStart seen).</summary>
    sealed class Stopper(int stage, int step) : ITrainingObserver
    {
        int starts;
        public List<string> Messages { get; } = [];
        public void OnStart(int firstStep, int totalSteps) => starts++;
        public void OnStep(StepMetrics m) { if (starts == stage && m.Step == step) throw new Interrupted(); }
        public void OnMessage(string message) => Messages.Add(message);
    }

    R1Options Options() => new()
    {
        OutDir = NewDir(), Preset = "tiny", Documents = 300, Vocab = 300, PretrainSteps = 4, BatchSize = 4, Precision = "fp32",
        ColdStartExamples = 8, ColdStartSteps = 2, MinutesRl = 0, MinutesRl2 = 0, SamplePrompts = 2, SampleK = 2, RsSftSteps = 1,
        EvalCount = 2, Eval = new EvalOptions(Samples: 2, K: 2, MaxTokens: 8),
        Grpo = new GrpoConfig { GroupSize = 2, PromptsPerStep = 2, MaxTokens = 8, EvalEvery = 1, EvalCount = 2, Train = GrpoConfig.DefaultTrain with { Steps = 1 } },
    };

    [Fact]
    public void A_stage_records_its_settings_before_it_trains_and_pretraining_resumes_from_its_checkpoint()
    {
        var o = Options();
        // Pretraining checkpoints every step (4 steps / 4); stop it at step 3, after checkpoint 2.
        Assert.Throws<Interrupted>(() => R1Recipe.Run(o, new Stopper(stage: 1, step: 3)));
        var pretrain = Path.Combine(o.OutDir, "pretrain");
        Assert.True(File.Exists(Path.Combine(pretrain, StageSettings.FileName)), "settings are written before the stage runs");
        Assert.False(File.Exists(Path.Combine(pretrain, "ledger.json")));

        // Stop the cold-start SFT at its first step: its folder already says what it is being made with.
        var rerun = new Stopper(stage: 2, step: 1);
        Assert.Throws<Interrupted>(() => R1Recipe.Run(o, rerun));
        Assert.Contains(rerun.Messages, m => m.Contains("resuming the interrupted stage") && m.Contains(pretrain));
        var steps = SeekSharp.Ledger.MetricsLog.Read(Path.Combine(pretrain, "metrics.jsonl")).Select(r => (int)r["step"]!).ToList();
        Assert.Equal([1, 2, 3, 4], steps);
        Assert.True(File.Exists(Path.Combine(pretrain, "ledger.json")));
        var cold = StageSettings.Read(Path.Combine(o.OutDir, "sft-cold", StageSettings.FileName));
        Assert.NotNull(cold);
        Assert.Equal("cold-start SFT", cold.Stage);

        // The whole recipe then finishes; a rerun reuses every stage and the rejection samples.
        R1Recipe.Run(o);
        var samples = Path.Combine(o.OutDir, "samples.jsonl");
        var written = File.GetLastWriteTimeUtc(samples);
        var again = new Stopper(stage: 0, step: 0);
        var r = R1Recipe.Run(o, again);
        Assert.Contains(again.Messages, m => m.Contains("rejection sampling: reusing"));
        Assert.Equal(written, File.GetLastWriteTimeUtc(samples));
        Assert.Equal("reused", r.Stages[0].Note);

        // A sample cache whose settings file is missing (a kill while it was rewritten) is never trusted.
        File.Delete(samples + ".settings.json");
        var third = new Stopper(stage: 0, step: 0);
        R1Recipe.Run(o, third);
        Assert.DoesNotContain(third.Messages, m => m.Contains("rejection sampling: reusing"));
        Assert.True(File.Exists(samples + ".settings.json"));
    }
}
