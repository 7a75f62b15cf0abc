using SeekSharp.Inference;
using SeekSharp.Modeling;
using static TorchSharp.torch;

namespace SeekSharp.Tests.Serving;

/// <summary>Tiny models with NaN in one token's embedding row: a corrupt checkpoint that breaks only the sequences
/// that read that token. Embeddings are untied, so the poisoned row is not also a row of the output head (tied, it would
/// make that token's logit NaN for every sequence).</summary>
static class PoisonedModel
{
    public static ModelConfig Untied(ModelConfig cfg) => cfg with { TieWordEmbeddings = false };

    /// <summary>Puts NaN in the whole embedding row of <paramref name="token"/>.</summary>
    public static Transformer Poison(Transformer model, int token)
    {
        var embed = model.named_parameters().Single(p => p.name == "model.embed_tokens.weight").parameter;
        using (no_grad()) embed[token].fill_(float.NaN);
        return model;
    }

    /// <summary>Greedy continuation on the (clean) model, the tokens the engine must reproduce.</summary>
    public static int[] Greedy(Transformer model, IReadOnlyList<int> prompt, int tokens) =>
        new TokenGenerator(model).Generate(prompt, tokens, new SamplingOptions(Temperature: 0), seed: 0).ToArray();
}
