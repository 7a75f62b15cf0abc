using SeekSharp.Data.Synthetic;
using SeekSharp.Inference;
using SeekSharp.Modeling;
using SeekSharp.Tokenization;

namespace SeekSharp.Reasoning;

// Problems in, rollouts out: each problem is rendered by R1Format as the user turn of a chat with the
// generation prompt (<|assistant|>), its completions are sampled by GroupGenerator, and each completion
// is decoded (without the <|eos|> that ended it) for the rewards, keeping its ids for the training
// forward. RL, evaluation and rejection sampling all sample through here, so they see the same prompt.

/// <summary>A rollout with the ids it was made of.</summary>
public sealed record SampledRollout(Rollout Rollout, int[] PromptIds, int[] CompletionIds);

/// <summary>Samples completions of problems in the R1 chat format.</summary>
public sealed class RolloutSampler(Transformer model, BpeTokenizer tok, int maxRows = 64)
{
    readonly GroupGenerator generator = new(model, maxRows);

    /// <summary>Rows decoded so far (a row per sequence per step, finished rows included).</summary>
    public long DecodedTokens => generator.DecodedTokens;

    public int[] EncodePrompt(SyntheticProblem p) => ChatTemplate.EncodeChat(tok, R1Format.Prompt(p), addGenerationPrompt: true).Ids;

    /// <returns><paramref name="samples"/> rollouts per problem, problem after problem.</returns>
    public List<SampledRollout> Sample(IReadOnlyList<SyntheticProblem> problems, int samples, int maxTokens, SamplingOptions options, int seed)
    {
        var prompts = problems.Select(EncodePrompt).ToArray();
        var generated = generator.Generate(prompts, samples, maxTokens, options, seed, tok.EosId);
        var list = new List<SampledRollout>(problems.Count * samples);
        for (int i = 0; i < problems.Count; i++)
            foreach (var g in generated[i])
            {
                var body = g.Finished ? g.Ids.AsSpan(0, g.Ids.Length - 1) : g.Ids;
                list.Add(new SampledRollout(new Rollout(problems[i], tok.Decode(body), g.Ids.Length, g.Finished), prompts[i], g.Ids));
            }
        return list;
    }
}
