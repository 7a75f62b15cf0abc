using SeekSharp.Checkpoints;
using SeekSharp.Modeling;
using SeekSharp.Tests.Modeling;
using SeekSharp.Tests.Tokenization;
using SeekSharp.Tokenization;

namespace SeekSharp.Tests.Alignment;

/// <summary>A model folder (tiny MLA + MoE, random weights, the shared test tokenizer) that fine-tuning tests start from.</summary>
public sealed class ChatModelFolder : IDisposable
{
    readonly TempDir root = new();
    public string ModelDir { get; }
    public BpeTokenizer Tokenizer => TokenizerFixture.Tokenizer;
    public ModelConfig Config { get; } = TestModels.Mla() with { VocabSize = TokenizerFixture.VocabSize };

    public ChatModelFolder()
    {
        ModelDir = Path.Combine(root.Path, "base");
        using var model = new Transformer(Config, seed: 7);
        Tokenizer.Save(ModelDir); // first: config.json takes the special ids from it
        ModelFiles.Save(ModelDir, model);
    }

    public string NewDir() => Path.Combine(root.Path, Guid.NewGuid().ToString("N"));

    /// <summary>Writes a messages-format JSONL file of <paramref name="n"/> trivially learnable conversations.</summary>
    public string PingPong(int n = 24)
    {
        var path = Path.Combine(root.Path, $"pingpong-{Guid.NewGuid():N}.jsonl");
        File.WriteAllLines(path, Enumerable.Range(0, n).Select(i =>
            $$"""{"messages":[{"role":"user","content":"ping {{i % 4}}"},{"role":"assistant","content":"pong pong pong"}]}"""));
        return path;
    }

    public void Dispose() => root.Dispose();
}
