using SeekSharp.Data.Synthetic;
using SeekSharp.Reasoning;

namespace SeekSharp.Tests.Reasoning;

public class RewardTests
{
    static readonly SyntheticProblem Sum = ArithmeticTask.Add(347, 589);   // 936

    [Theory]
    // right
    [InlineData("<think>7 + 9 = 16, write 6 carry 1.</think><answer>936</answer>", 1, 1, "ok")]
    [InlineData("  <think>working</think>\n<answer> 936 </answer>\n", 1, 1, "ok")]        // whitespace around tags is fine
    [InlineData("<think></think><answer>936</answer>", 1, 1, "ok")]                        // empty reasoning is the model's choice
    // wrong
    [InlineData("<think>working</think><answer>935</answer>", 1, 0, "ok")]
    [InlineData("<think>working</think><answer>936.0</answer>", 1, 0, "ok")]               // the verifier wants an integer
    // malformed
    [InlineData("936", 0, 0, "0 <think> tags")]
    [InlineData("<think>working<answer>936</answer>", 0, 0, "0 </think> tags")]
    [InlineData("<think>working</think>936", 0, 0, "0 <answer> tags")]
    [InlineData("<think>working</think><answer></answer>", 0, 0, "empty answer")]
    [InlineData("<answer>936</answer><think>working</think>", 0, 0, "comes before")]
    [InlineData("Sure! <think>working</think><answer>936</answer>", 0, 0, "text before <think>")]
    [InlineData("<think>working</think> so <answer>936</answer>", 0, 0, "text between")]
    // adversarial
    [InlineData("<think>the answer is <answer>936</answer></think><answer>935</answer>", 0, 0, "2 <answer> tags")]  // answer tag inside think
    [InlineData("<think><answer>936</answer></think>", 0, 0, "<answer> comes before </think>")]                       // the only answer is inside think
    [InlineData("<think>working</think><answer>935</answer><answer>936</answer>", 0, 0, "2 <answer> tags")]           // two answers
    [InlineData("<think>working</think><answer>936</answer> and also 935", 0, 0, "text after </answer>")]             // trailing text
    [InlineData("<think>working</think><answer>936</answer><|eos|>", 0, 0, "text after </answer>")]                   // forged end of turn
    [InlineData("<think>a</think><think>b</think><answer>936</answer>", 0, 0, "2 <think> tags")]
    public void Format_and_accuracy_worked_examples(string completion, double format, double accuracy, string reason)
    {
        Assert.Equal(format, Rewards.Format(completion));
        Assert.Equal(accuracy, Rewards.Accuracy(Sum, completion));
        Assert.Contains(reason, R1Completion.Parse(completion).Reason);
    }

    [Fact]
    public void A_completion_cut_off_at_the_token_limit_earns_nothing()
    {
        const string text = "<think>working</think><answer>936</answer>";
        Assert.Equal(1, Rewards.Accuracy(Sum, text, finished: true));
        Assert.Equal(0, Rewards.Format(text, finished: false));
        Assert.Equal(0, Rewards.Accuracy(Sum, text, finished: false));
    }

    [Fact]
    public void The_reference_completion_of_every_task_earns_full_reward()
    {
        var rng = new Random(5);
        foreach (var task in new ISyntheticTask[] { ArithmeticTask.Instance, CountdownTask.Instance, FinanceTask.Instance })
            for (int i = 0; i < 20; i++)
            {
                var p = task.Generate(rng);
                var text = R1Format.Completion(p);
                Assert.Equal(1, Rewards.Format(text));
                Assert.Equal(1, Rewards.Accuracy(p, text));
            }
    }

    [Fact]
    public void Countdown_accuracy_reads_the_equation_from_the_answer()
    {
        var p = new SyntheticProblem("", "", "", "countdown")
        {
            Task = "countdown", Parameters = new Dictionary<string, string> { ["numbers"] = "19,36,55,7", ["target"] = "65" },
        };
        Assert.Equal(1, Rewards.Accuracy(p, "<think>try</think><answer>55 + 36 - 19 - 7</answer>"));
        Assert.Equal(0, Rewards.Accuracy(p, "<think>try</think><answer>65</answer>"));          // the target is not an equation
        Assert.Equal(0, Rewards.Accuracy(p, "<think>55 + 36 - 19 - 7</think><answer>55 + 36</answer>"));
    }

    [Fact]
    public void Reward_set_weighs_and_reports_each_reward()
    {
        var rollouts = new[]
        {
            new Rollout(Sum, "<think>w</think><answer>936</answer>", 10, true),
            new Rollout(Sum, "<think>w</think><answer>1</answer>", 10, true),
            new Rollout(Sum, "936", 2, true),
        };
        var s = RewardSet.RuleBased(formatWeight: 0.2).Score(rollouts);
        Assert.Equal([1.2, 0.2, 0.0], s.Total.Select(x => Math.Round(x, 12)));
        Assert.Equal([1.0, 0.0, 0.0], s.ByName["accuracy"]);
        Assert.Equal([1.0, 1.0, 0.0], s.ByName["format"]);
    }
}
