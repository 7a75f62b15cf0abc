using SeekSharp.Cli.Commands;
using SeekSharp.Inference;
using SeekSharp.Tests.Alignment;
using static TorchSharp.torch;

namespace SeekSharp.Tests.Cli;

/// <summary>`seek generate --precision` (bf16 by default, as serve) and `--show-ids`.</summary>
[Collection("Console")] // CliTests.Run redirects Console.Out
public class GenerateOptionsTests
{
    const string Text = "the quick brown fox";

    /// <summary>What the library's generator makes of the prompt with matmuls in <paramref name="precision"/>, greedily.</summary>
    static List<int> Direct(ChatModelFolder folder, string precision, int tokens)
    {
        using var m = GenerateCommand.Load(folder.ModelDir, "cpu", precision);
        var prompt = GenerateCommand.Prompt(folder.Tokenizer, Text, chat: false);
        return [.. new TokenGenerator(m).Generate(prompt, tokens, new SamplingOptions(0, 1), 0, new HashSet<int> { folder.Tokenizer.EosId })];
    }

    static (List<int> Prompt, List<int> Generated, string Output) RunWithIds(ChatModelFolder folder, params string[] extra)
    {
        var (code, output) = CliTests.Run(["generate", "--model", folder.ModelDir, "--prompt", Text, "--max-tokens", "24", "--temperature", "0", "--show-ids", .. extra]);
        Assert.True(code == 0, output);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var ids = lines[^1];
        Assert.StartsWith("ids: ", ids);
        var halves = ids["ids: ".Length..].Split(" | ");
        Assert.Equal(2, halves.Length);
        static List<int> Parse(string s) => [.. s.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse)];
        return (Parse(halves[0]), Parse(halves[1]), string.Join('\n', lines[..^1]));
    }

    [Fact]
    public void ShowIdsPrintsThePromptsAndTheGeneratedIdsAfterTheText()
    {
        using var folder = new ChatModelFolder();
        var tok = folder.Tokenizer;
        var (prompt, generated, text) = RunWithIds(folder, "--precision", "fp32");
        Assert.Equal([tok.BosId, .. tok.Encode(Text)], prompt);
        Assert.Equal(Direct(folder, "fp32", 24), generated);
        Assert.NotEmpty(generated);
        Assert.Equal(Text + tok.Decode(generated.ToArray()), text);   // the text is the prompt and exactly these ids

        // Without the flag there is no ids line; with --chat the prompt ids are the chat layout's.
        var (code, output) = CliTests.Run("generate", "--model", folder.ModelDir, "--prompt", Text, "--max-tokens", "4", "--temperature", "0");
        Assert.True(code == 0, output);
        Assert.DoesNotContain("ids:", output);
        var (chatPrompt, _, _) = RunWithIds(folder, "--chat");
        Assert.Equal(GenerateCommand.Prompt(tok, Text, chat: true), chatPrompt);
        Assert.Equal("ids: 1 2 |", GenerateCommand.IdsLine([1, 2], []));
        Assert.Equal("ids: 1 2 3 | 4 5 6", GenerateCommand.IdsLine([1, 2, 3], [4, 5, 6]));
    }

    /// <summary>A model folder whose first greedy token depends on the matmul dtype: the head is zero but for rows
    /// <paramref name="a"/> &lt; <paramref name="b"/>, row a = v (bf16-exact, along the prompt's last hidden state, so its logit is
    /// positive and the largest) and row b = v (1 + 2^-12). In fp32 row b's logit is larger by 2^-12 h.v; in bf16 the factor is below half
    /// a unit in the last place, row b rounds to row a, the logits tie and argmax takes the first, a.</summary>
    static string PrecisionSensitiveModel(ChatModelFolder folder, int a, int b)
    {
        var dir = folder.NewDir();
        using var model = new SeekSharp.Modeling.Transformer(SeekSharp.Tests.Serving.PoisonedModel.Untied(folder.Config), seed: 7);
        using (var scope = NewDisposeScope())
        using (no_grad())
        {
            var prompt = GenerateCommand.Prompt(folder.Tokenizer, Text, chat: false).Select(x => (long)x).ToArray();
            var h = model.ForwardHidden(tensor(prompt).unsqueeze(0)).Hidden[0, -1];      // (D)
            var v = h.to_type(ScalarType.BFloat16).to_type(ScalarType.Float32);
            var head = model.named_parameters().Single(p => p.name == "lm_head.weight").parameter;   // (V, D)
            head.zero_();
            head[a].copy_(v);
            head[b].copy_(v.mul(1 + Math.Pow(2, -12)));
        }
        SeekSharp.Checkpoints.ModelFiles.Save(dir, model);
        folder.Tokenizer.Save(dir);
        return dir;
    }

    [Fact]
    public void PrecisionDefaultsToBf16AsServeDoes()
    {
        using var folder = new ChatModelFolder();
        using (var m = GenerateCommand.Load(folder.ModelDir, "cpu", "bf16")) Assert.Equal(ScalarType.BFloat16, m.ComputeType);
        using (var m = GenerateCommand.Load(folder.ModelDir, "cpu", "fp32")) Assert.Equal(ScalarType.Float32, m.ComputeType);

        var tok = folder.Tokenizer;
        var (a, b) = (100, 101);
        Assert.False(tok.IsSpecial(a) || tok.IsSpecial(b));
        var dir = PrecisionSensitiveModel(folder, a, b);
        int First(params string[] precision)
        {
            var (code, output) = CliTests.Run(["generate", "--model", dir, "--prompt", Text, "--max-tokens", "1", "--temperature", "0", "--show-ids", .. precision]);
            Assert.True(code == 0, output);
            return int.Parse(output.Split('\n', StringSplitOptions.RemoveEmptyEntries)[^1].Split(" | ")[1]);
        }
        Assert.Equal(b, First("--precision", "fp32"));
        Assert.Equal(a, First("--precision", "bf16"));
        Assert.Equal(a, First());   // no flag: bf16

        // On an ordinary model too, each precision gives what the library's generator gives in it.
        Assert.Equal(Direct(folder, "bf16", 24), RunWithIds(folder).Generated);
        Assert.Equal(Direct(folder, "fp32", 24), RunWithIds(folder, "--precision", "fp32").Generated);

        var (code, output) = CliTests.Run("generate", "--model", folder.ModelDir, "--prompt", Text, "--precision", "fp16");
        Assert.Equal(1, code);
        Assert.StartsWith("error:", output.Trim());
        Assert.Contains("'fp16' not recognized", output);
    }
}
