using System.Diagnostics;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using SeekSharp.Checkpoints;
using SeekSharp.Data.Synthetic;
using SeekSharp.Inference;
using SeekSharp.IO;
using SeekSharp.Ledger;
using SeekSharp.Modeling;
using SeekSharp.Tokenization;
using static TorchSharp.torch;

namespace SeekSharp.Reasoning;

// DeepSeek-R1's rejection sampling: K completions per training prompt, only the verified-correct ones
// kept (well-formed and the verifier accepts the answer: the accuracy reward is 1), exact duplicates of
// (prompt, completion) dropped, written as chat SFT records
//   {"messages": [{"role": "user", ...}, {"role": "assistant", ...}], "problem": {synth record}}
// which `seek chat sft --data` reads as they are; "problem" lets the held-out check match by key too.
// Prompts come from the training side of the held-out partition, never from the evaluation set.

/// <summary>What a rejection-sampling run produced.</summary>
/// <param name="Problems">Every prompt sampled (kept or not), for the lineage of models trained on the output.</param>
public sealed record SampleResult(string OutPath, int Prompts, int Samples, int Correct, int Kept, int PromptsWithKept, double Seconds,
    IReadOnlyList<SyntheticProblem> Problems, LedgerEntry Ledger);

public static class RejectionSampling
{
    static readonly JsonSerializerOptions Json = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static SampleResult Run(string modelDir, string task, int prompts, int samples, string outPath, int maxTokens = 160,
        double temperature = 1.0, int seed = 1, string precision = "bf16", string device = "cpu", string? hardwareProfilePath = null)
    {
        if (prompts < 1) throw new SeekSharpException($"--count: expected 1 or more prompts, got {prompts}.");
        if (samples < 1) throw new SeekSharpException($"--samples: expected 1 or more, got {samples}.");
        var options = new SamplingOptions(temperature, 1.0).Validate();
        var problems = TaskSource.Training(task, seed).Take(prompts).ToList();
        var tok = BpeTokenizer.Load(modelDir);
        using var model = ModelFiles.Load(modelDir, new Device(device));
        model.SetComputeType(Transformer.ComputeTypeOf(precision));
        model.eval();
        model.Freeze(); // inference only: weights cast once, decode steps on the fused path (docs/decisions/0016)
        var clock = Stopwatch.StartNew();
        using var ledger = RunLedger.Start("sample", HardwareProfile.Resolve(hardwareProfilePath), runDir: Path.GetDirectoryName(Path.GetFullPath(outPath)));
        var sampler = new RolloutSampler(model, tok);
        var rollouts = sampler.Sample(problems, samples, maxTokens, options, seed);
        ledger.AddTokens(rollouts.Sum(r => (long)r.Rollout.Tokens));
        ledger.AddFlops(ModelCost.Of(model.Config).ForwardFlopsPerToken * sampler.DecodedTokens);
        var (lines, correct, withKept) = Keep(rollouts.Select(r => r.Rollout).ToList());
        AtomicFile.WriteAllText(outPath, string.Concat(lines.Select(l => l + "\n")));
        DataOrigin.Write(outPath, DataOrigin.Synthetic, $"rejection sampling: correct completions of {modelDir} on {problems.Count} problems");
        ledger.RecordStorage(outPath, StorageKind.Data);
        return new SampleResult(outPath, problems.Count, rollouts.Count, correct, lines.Count, withKept, clock.Elapsed.TotalSeconds,
            problems, ledger.Finish());
    }

    /// <summary>The SFT records of the correct, distinct rollouts; with the number correct and the prompts that kept any.</summary>
    public static (List<string> Lines, int Correct, int PromptsWithKept) Keep(IReadOnlyList<Rollout> rollouts)
    {
        var seen = new HashSet<(string, string)>();
        var lines = new List<string>();
        var prompts = new HashSet<string>();
        int correct = 0, id = 0;
        foreach (var r in rollouts)
        {
            if (Rewards.Accuracy(r.Problem, r.Text, r.Finished) != 1) continue;
            correct++;
            var text = r.Text.Trim();
            if (!seen.Add((HeldOut.NormalizePrompt(r.Problem.Prompt), text))) continue;
            prompts.Add(r.Problem.Prompt);
            var record = new JsonObject
            {
                ["messages"] = new JsonArray(
                    new JsonObject { ["role"] = "user", ["content"] = r.Problem.Prompt },
                    new JsonObject { ["role"] = "assistant", ["content"] = text }),
                ["problem"] = JsonNode.Parse(SyntheticData.ToJsonLine(new SyntheticRecord($"sample-{++id:D6}", r.Problem))),
            };
            lines.Add(record.ToJsonString(Json));
        }
        return (lines, correct, prompts.Count);
    }
}
