using SeekSharp.Serving;
using SeekSharp.Tokenization;

namespace SeekSharp.Server;

/// <summary>The one model a server answers for: its public id, its tokenizer and the engine that decodes it.</summary>
public sealed class ServedModel
{
    public ServedModel(string id, BpeTokenizer tokenizer, IGenerationEngine engine)
    {
        if (string.IsNullOrWhiteSpace(id)) throw new SeekSharpException("model id: expected a non-empty name.");
        if (tokenizer.VocabSize != engine.Config.VocabSize)
            throw new SeekSharpException($"tokenizer has {tokenizer.VocabSize} tokens but the model's vocab_size is {engine.Config.VocabSize}: they must come from the same run.");
        Id = id;
        Tokenizer = tokenizer;
        Engine = engine;
    }

    public string Id { get; }
    public BpeTokenizer Tokenizer { get; }
    public IGenerationEngine Engine { get; }

    /// <summary>Prompt plus completion tokens the model can attend to.</summary>
    public int ContextLength => Engine.Config.MaxPositionEmbeddings;

    /// <summary>Unix seconds when the server started: the `created` of /v1/models.</summary>
    public long Created { get; } = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
}
