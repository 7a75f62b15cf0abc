using System.Diagnostics;
using System.Text.Json.Serialization;
using SeekSharp.Checkpoints;
using SeekSharp.Data.Synthetic;
using SeekSharp.Inference;
using SeekSharp.Modeling;
using SeekSharp.Tokenization;

namespace SeekSharp.Reasoning;

// pass@1 as DeepSeek-R1 reports it: n samples per problem at temperature 0.6, top-p 0.95, and pass@1
// the mean fraction correct (a greedy pass@1 is brittle on small models: one near-tie flips a problem).
// Temperature 0 gives the greedy variant (one sample per problem). pass@k is Chen et al.'s unbiased
// estimator from the same n samples: 1 - C(n-c, k) / C(n, k) per problem, averaged, so n >= k. A sample is
// correct when it is well-formed and its answer verifies (the accuracy reward), so format failures count
// as wrong, as a user would see them.

/// <summary>How to evaluate.</summary>
/// <param name="Samples">Completions per problem (n); forced to 1 when greedy.</param>
/// <param name="K">The k of pass@k (at most n).</param>
public sealed record EvalOptions(int Samples = 8, int K = 8, double Temperature = 0.6, double TopP = 0.95, int MaxTokens = 160, int Seed = 0)
{
    public bool Greedy => Temperature == 0;
    public int N => Greedy ? 1 : Samples;

    public EvalOptions Validate()
    {
        if (Samples < 1) throw new SeekSharpException($"--samples: expected 1 or more, got {Samples}.");
        if (K < 1 || K > N) throw new SeekSharpException($"--k: expected 1..{N} (samples per problem{(Greedy ? " with greedy decoding" : "")}), got {K}.");
        if (MaxTokens < 1) throw new SeekSharpException($"--max-tokens: expected 1 or more, got {MaxTokens}.");
        new SamplingOptions(Temperature, TopP).Validate();
        return this;
    }
}

/// <summary>Scores on an evaluation set.</summary>
public sealed record EvalResult
{
    [JsonPropertyName("problems")] public int Problems { get; init; }
    [JsonPropertyName("samples")] public int Samples { get; init; }
    [JsonPropertyName("k")] public int K { get; init; }
    [JsonPropertyName("temperature")] public double Temperature { get; init; }
    [JsonPropertyName("pass_at_1")] public double PassAt1 { get; init; }
    [JsonPropertyName("pass_at_k")] public double PassAtK { get; init; }
    /// <summary>Fraction of samples in the R1 format.</summary>
    [JsonPropertyName("format_rate")] public double FormatRate { get; init; }
    /// <summary>Mean completion length in tokens.</summary>
    [JsonPropertyName("mean_tokens")] public double MeanTokens { get; init; }
    [JsonPropertyName("seconds")] public double Seconds { get; init; }
    /// <summary>Each problem's prompt, answer, parameters and samples correct, so a user can see where the model fails
    /// (for arithmetic: by operation and digits).</summary>
    [JsonPropertyName("per_problem")] public IReadOnlyList<ProblemScore> PerProblem { get; init; } = [];
    /// <summary>The first sample of each problem: prompt, completion, expected answer, correct.</summary>
    [JsonIgnore] public IReadOnlyList<(string Prompt, string Completion, string Expected, bool Correct)> Examples { get; init; } = [];
}

/// <summary>How one evaluation problem fared: <see cref="Correct"/> of <see cref="Samples"/> samples verified.</summary>
public sealed record ProblemScore(
    [property: JsonPropertyName("prompt")] string Prompt,
    [property: JsonPropertyName("answer")] string Answer,
    [property: JsonPropertyName("parameters")] IReadOnlyDictionary<string, string> Parameters,
    [property: JsonPropertyName("correct")] int Correct,
    [property: JsonPropertyName("samples")] int Samples);

public static class Evaluation
{
    /// <summary>Chen et al. (2021): 1 - C(n-c, k)/C(n, k), as a stable product.</summary>
    public static double PassAtK(int n, int c, int k)
    {
        if (k < 1 || k > n || c < 0 || c > n) throw new ArgumentOutOfRangeException(nameof(k), $"need 1 <= k <= n and 0 <= c <= n (n={n}, c={c}, k={k})");
        if (n - c < k) return 1.0;
        double fail = 1.0;
        for (int i = n - c + 1; i <= n; i++) fail *= 1.0 - (double)k / i;
        return 1.0 - fail;
    }

    /// <summary>Evaluates a model folder on <paramref name="task"/>'s held-out set (or a file), after checking that no
    /// problem of it is among the prompts the model trained on (its train_prompts.jsonl and <paramref name="trainPromptFiles"/>).</summary>
    public static EvalResult RunFolder(string modelDir, string task, int count, IEnumerable<string> trainPromptFiles, EvalOptions o,
        string precision = "bf16", string device = "cpu")
    {
        o.Validate();
        var problems = TaskSource.Evaluation(task, count);
        HeldOut.CheckDisjoint(problems, TrainingPrompts.ForModel(modelDir, trainPromptFiles));
        var tok = BpeTokenizer.Load(modelDir);
        using var model = ModelFiles.Load(modelDir, new TorchSharp.torch.Device(device));
        model.SetComputeType(Transformer.ComputeTypeOf(precision));
        model.eval();
        model.Freeze(); // inference only: weights cast once, decode steps on the fused path (docs/decisions/0016)
        return Run(model, tok, problems, o);
    }

    /// <summary>Samples and scores every problem.</summary>
    public static EvalResult Run(Transformer model, BpeTokenizer tok, IReadOnlyList<SyntheticProblem> problems, EvalOptions o)
    {
        o.Validate();
        var clock = Stopwatch.StartNew();
        var sampler = new RolloutSampler(model, tok);
        var rollouts = sampler.Sample(problems, o.N, o.MaxTokens, new SamplingOptions(o.Temperature, o.TopP), o.Seed);
        double pass1 = 0, passK = 0, format = 0, tokens = 0;
        var examples = new List<(string, string, string, bool)>();
        var perProblem = new List<ProblemScore>();
        for (int i = 0; i < problems.Count; i++)
        {
            var mine = rollouts.GetRange(i * o.N, o.N).Select(r => r.Rollout).ToList();
            int correct = mine.Count(r => Rewards.Accuracy(r.Problem, r.Text, r.Finished) == 1);
            pass1 += (double)correct / o.N;
            perProblem.Add(new ProblemScore(problems[i].Prompt, problems[i].Answer, problems[i].Parameters, correct, o.N));
            passK += PassAtK(o.N, correct, o.K);
            format += mine.Sum(r => Rewards.Format(r.Text, r.Finished));
            tokens += mine.Sum(r => r.Tokens);
            examples.Add((problems[i].Prompt, mine[0].Text, problems[i].Answer, Rewards.Accuracy(mine[0].Problem, mine[0].Text, mine[0].Finished) == 1));
        }
        int total = problems.Count * o.N;
        return new EvalResult
        {
            Problems = problems.Count, Samples = o.N, K = o.K, Temperature = o.Temperature,
            PassAt1 = pass1 / problems.Count, PassAtK = passK / problems.Count, FormatRate = format / total, MeanTokens = tokens / total,
            Seconds = clock.Elapsed.TotalSeconds, Examples = examples, PerProblem = perProblem,
        };
    }
}
