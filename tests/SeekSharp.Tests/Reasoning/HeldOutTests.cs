using SeekSharp.Data.Synthetic;
using SeekSharp.Reasoning;

namespace SeekSharp.Tests.Reasoning;

public class HeldOutTests : TempDirTest
{
    [Fact]
    public void The_held_out_set_is_deterministic_and_training_streams_never_reach_it()
    {
        var a = HeldOut.Problems(ArithmeticTask.Instance, 60);
        var b = HeldOut.Problems(ArithmeticTask.Instance, 60);
        Assert.Equal(a.Select(p => p.Prompt), b.Select(p => p.Prompt));
        Assert.All(a, p => Assert.True(HeldOut.IsHeldOut(p)));
        Assert.Equal(60, a.Select(HeldOut.Key).Distinct().Count());

        var training = new TrainingPrompts();
        foreach (var p in TaskSource.Training("arithmetic", seed: 3).Take(3000)) training.Add(p);
        HeldOut.CheckDisjoint(a, training);     // no throw
        Assert.Throws<SeekSharpException>(() => HeldOut.TrainingStream(ArithmeticTask.Instance, HeldOut.Seed).First());
    }

    [Fact]
    public void The_key_ignores_wording_and_operand_order_where_the_operation_commutes()
    {
        Assert.Equal(HeldOut.Key(ArithmeticTask.Add(12, 345)), HeldOut.Key(ArithmeticTask.Add(345, 12, template: 2, swapped: true)));
        Assert.Equal(HeldOut.Key(ArithmeticTask.Multiply(57, 3)), HeldOut.Key(ArithmeticTask.Multiply(57, 3, template: 1, swapped: true)));
        Assert.NotEqual(HeldOut.Key(ArithmeticTask.Subtract(50, 8)), HeldOut.Key(ArithmeticTask.Subtract(58, 0)));
        static SyntheticProblem Countdown(string numbers, string template, string equation) => new("", "", equation, "countdown")
        {
            Task = "countdown",
            Parameters = new Dictionary<string, string> { ["numbers"] = numbers, ["target"] = "65", ["template"] = template, ["equation"] = equation },
        };
        Assert.Equal(HeldOut.Key(Countdown("19,36,55,7", "0", "55 + 36 - 19 - 7")), HeldOut.Key(Countdown("7,55,36,19", "2", "36 + 55 - 7 - 19")));
        Assert.NotEqual(HeldOut.Key(Countdown("19,36,55,7", "0", "")), HeldOut.Key(Countdown("19,36,55,8", "0", "")));
    }

    [Fact]
    public void Eval_refuses_a_held_out_set_that_overlaps_the_training_prompts()
    {
        var heldOut = HeldOut.Problems(ArithmeticTask.Instance, 30);
        var victim = heldOut[17];
        // The same problem reworded (another template, operands swapped): caught by its key.
        var synth = File(NewDir(), "rl_prompts.jsonl", SyntheticData.ToJsonLine(new SyntheticRecord("x-1", Reword(victim))));
        var ex = Assert.Throws<SeekSharpException>(() => HeldOut.CheckDisjoint(heldOut, TrainingPrompts.ForModel(NewDir(), [synth])));
        Assert.Contains("overlaps", ex.Message);
        Assert.Contains("1 of 30", ex.Message);

        // A chat SFT file with the exact prompt text (no problem parameters): caught by text.
        var chat = File(NewDir(), "sft.jsonl",
            $$"""{"messages":[{"role":"user","content":"  {{victim.Prompt}} "},{"role":"assistant","content":"<think>x</think><answer>1</answer>"}]}""");
        Assert.Throws<SeekSharpException>(() => HeldOut.CheckDisjoint(heldOut, TrainingPrompts.ForModel(NewDir(), [chat])));

        // The lineage file in a model folder is read without being named.
        var model = NewDir();
        TrainingPrompts.WriteLineage(model, null, [victim], "grpo");
        Assert.Throws<SeekSharpException>(() => HeldOut.CheckDisjoint(heldOut, TrainingPrompts.ForModel(model)));
        // ...and carried into a child's.
        var child = NewDir();
        TrainingPrompts.WriteLineage(child, model, [ArithmeticTask.Add(1, 1)], "grpo");
        Assert.Throws<SeekSharpException>(() => HeldOut.CheckDisjoint(heldOut, TrainingPrompts.ForModel(child)));
    }

    [Fact]
    public void A_malformed_training_prompts_file_names_file_and_line()
    {
        var path = File(NewDir(), "bad.jsonl", "{\"messages\":[]}\n{\"nope\":1}");
        var ex = Assert.Throws<SeekSharpException>(() => TrainingPrompts.ForModel(NewDir(), [path]));
        Assert.Contains("bad.jsonl:2", ex.Message);
    }

    static SyntheticProblem Reword(SyntheticProblem p)
    {
        long a = long.Parse(p.Param("a")), b = long.Parse(p.Param("b"));
        int template = (int.Parse(p.Param("template")) + 1) % 4;
        return p.Param("op") switch
        {
            "+" => ArithmeticTask.Add(a, b, template, swapped: true),
            "-" => ArithmeticTask.Subtract(a, b, template),
            _ => ArithmeticTask.Multiply(a, b, template, swapped: true),
        };
    }

    static string File(string dir, string name, string text)
    {
        var path = Path.Combine(dir, name);
        System.IO.File.WriteAllText(path, text + "\n");
        return path;
    }
}
