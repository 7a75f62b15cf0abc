using SeekSharp.Checkpoints;
using SeekSharp.Modeling;
using SeekSharp.Tests.Modeling;
using SeekSharp.Tests.Serving;
using SeekSharp.Tests.Tokenization;

namespace SeekSharp.Tests.Cli;

/// <summary>`seek generate` on a model folder whose weights make NaN logits: one error line, exit 1.</summary>
[Collection("Console")] // CliTests.Run redirects Console.Out
public class GenerateFaultTests : TempDirTest
{
    /// <summary>A model folder whose output head is float.MaxValue everywhere: finite, so the folder loads (NaN weights are
    /// refused at load), and the logits overflow (+inf and -inf summed: NaN) at the first token, as a diverged model's do.</summary>
    string NaNModel()
    {
        var tok = TokenizerFixture.Tokenizer;
        var dir = NewDir();
        using (var model = new Transformer(PoisonedModel.Untied(TestModels.Mla() with { VocabSize = tok.VocabSize }), seed: 7))
        {
            var head = model.named_parameters().Single(p => p.name == "lm_head.weight").parameter;
            using (TorchSharp.torch.no_grad()) head.fill_(float.MaxValue);
            ModelFiles.Save(dir, model);
        }
        tok.Save(dir);
        return dir;
    }

    [Theory]
    [InlineData("0")]     // greedy
    [InlineData("0.9")]   // sampled with top_p 0.95: the path that threw IndexOutOfRangeException
    public void NaNLogitsAreOneErrorLineAndExitOne(string temperature)
    {
        var dir = NaNModel();
        var (code, output) = CliTests.Run("generate", "--model", dir, "--prompt", "hello", "--max-tokens", "5", "--temperature", temperature);
        Assert.Equal(1, code);
        // No stack trace. (Only ours: a server test running meanwhile may log one of its own to the console.)
        Assert.DoesNotContain("at SeekSharp.Inference.", output);
        var line = Assert.Single(output.Split('\n'), l => l.Contains("error:"));
        Assert.StartsWith("error:", line); // the continuation printed so far ends first
        // Read as text, not as lines: whether the console wraps a long error is the CLI's business, not this check's.
        var error = string.Join(' ', output[output.IndexOf("error:")..].Split((char[])['\n', '\r', ' '], StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains(dir, error.Replace(" ", ""));
        Assert.Contains("the model produced NaN/Inf logits at token 1", error);
    }

    [Theory]
    [InlineData("eval", "0")]     // greedy pass@1
    [InlineData("eval", "1.0")]
    [InlineData("sample", "1.0")]
    public void ChatEvalAndSampleOnNaNLogitsAreAnErrorLine(string command, string temperature)
    {
        var dir = NaNModel();
        string[] args = command == "eval"
            ? ["chat", "eval", "--model", dir, "--task", "arithmetic", "--count", "2", "--temperature", temperature, "--max-tokens", "3"]
            : ["chat", "sample", "--model", dir, "--task", "arithmetic", "--count", "2", "--samples", "2", "--temperature", temperature, "--max-tokens", "3",
               "--out", System.IO.Path.Combine(NewDir(), "samples.jsonl")];
        var (code, output) = CliTests.Run(args);
        Assert.Equal(1, code);
        Assert.DoesNotContain("at SeekSharp.Inference.", output);
        Assert.Single(output.Split('\n'), l => l.Contains("error:"));
        Assert.Contains("NaN/Inf logits at token 1", string.Join(' ', output.Split((char[])['\n', '\r', ' '], StringSplitOptions.RemoveEmptyEntries)));
    }
}
