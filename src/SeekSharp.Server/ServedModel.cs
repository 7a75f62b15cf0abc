using SeekSharp.Checkpoints;
using SeekSharp.Modeling;
using SeekSharp.Serving;
using SeekSharp.Tokenization;
using TorchSharp;

namespace SeekSharp.Server;

/// <summary>The one model a server answers for: its public id, its tokenizer and the engine that decodes it.</summary>
public sealed class ServedModel : IDisposable
{
    readonly IDisposable? owned;

    /// <param name="owned">disposed after the engine (the model weights when this server loaded them)</param>
    public ServedModel(string id, BpeTokenizer tokenizer, IGenerationEngine engine, IDisposable? owned = null)
    {
        if (string.IsNullOrWhiteSpace(id)) throw new SeekSharpException("model id: expected a non-empty name.");
        if (tokenizer.VocabSize != engine.Config.VocabSize)
            throw new SeekSharpException($"tokenizer has {tokenizer.VocabSize} tokens but the model's vocab_size is {engine.Config.VocabSize}: they must come from the same run.");
        Id = id;
        Tokenizer = tokenizer;
        Engine = engine;
        this.owned = owned;
    }

    public string Id { get; }
    public BpeTokenizer Tokenizer { get; }
    public IGenerationEngine Engine { get; }

    /// <summary>Prompt plus completion tokens the model can attend to.</summary>
    public int ContextLength => Engine.Config.MaxPositionEmbeddings;

    /// <summary>Unix seconds when the server started: the `created` of /v1/models.</summary>
    public long Created { get; } = DateTimeOffset.UtcNow.ToUnixTimeSeconds();

    /// <summary>
    /// Loads a model folder (config.json, model.safetensors, tokenizer.json) onto <paramref name="device"/> with
    /// matmuls in <paramref name="precision"/> (bf16 or fp32; the weights are then held once, in that dtype: <see cref="Transformer.ReleaseMasters"/>) and
    /// starts a continuous-batching engine on it.
    /// </summary>
    /// <param name="id">the model name clients send; null = the folder's name</param>
    public static ServedModel Load(string dir, string? id, string device, string precision, EngineOptions engineOptions)
    {
        var dtype = precision switch
        {
            "bf16" => torch.ScalarType.BFloat16,
            "fp32" => torch.ScalarType.Float32,
            _ => throw new SeekSharpException($"--precision: expected bf16 or fp32, got \"{precision}\"."),
        };
        engineOptions.Validate();
        var tokenizer = BpeTokenizer.Load(dir);
        var model = ModelFiles.Load(dir, new torch.Device(device));
        try
        {
            model.SetComputeType(dtype);
            // Served only, never trained: frozen once and the fp32 masters the frozen copies replace are released (a bf16
            // model then holds 2 bytes a weight, not 4 + 2). The engine sees a frozen model and leaves it so.
            model.Freeze().ReleaseMasters();
            var engine = new GenerationEngine(model, engineOptions);
            try
            {
                return new ServedModel(id ?? Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(dir))), tokenizer, engine, model);
            }
            catch { engine.Dispose(); throw; }
        }
        catch { model.Dispose(); throw; }
    }

    public void Dispose()
    {
        Engine.Dispose();
        owned?.Dispose();
    }
}
