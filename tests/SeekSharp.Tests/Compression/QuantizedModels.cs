using SeekSharp.Checkpoints;
using SeekSharp.Compression;
using SeekSharp.Modeling;
using SeekSharp.Tests.Modeling;
using SeekSharp.Tests.Tokenization;

namespace SeekSharp.Tests.Compression;

/// <summary>A tiny MLA + MoE model folder whose projections all have in features a multiple of 32, so every one quantizes.</summary>
internal static class QuantizedModels
{
    public static ModelConfig Config => TestModels.Mla() with
    {
        VocabSize = TokenizerFixture.VocabSize, HiddenSize = 64, QLoraRank = 32, KvLoraRank = 32,
        QkNopeHeadDim = 16, QkRopeHeadDim = 16, VHeadDim = 16, IntermediateSize = 64, MoeIntermediateSize = 32,
    };

    /// <summary>Writes the full-precision folder (tokenizer included) into <paramref name="dir"/>.</summary>
    public static string Save(string dir, long seed = 5)
    {
        using var model = new Transformer(Config, seed);
        TokenizerFixture.Tokenizer.Save(dir);
        ModelFiles.Save(dir, model);
        return dir;
    }

    /// <summary>The full-precision model of <paramref name="parentDir"/> with each weight that <paramref name="quantized"/>
    /// holds quantized replaced by its dequantized value: the function the quantized model must compute.</summary>
    public static Transformer Dequantized(string parentDir, Transformer quantized)
    {
        var reference = ModelFiles.Load(parentDir);
        var linears = quantized.named_modules().Where(m => m.module is Linear).ToDictionary(m => m.name, m => (Linear)m.module);
        using var _ = TorchSharp.torch.no_grad();
        foreach (var (name, module) in reference.named_modules())
            if (module is Linear lin && linears[name].Quantized is { } q)
                using (var w = q.Dequantize(TorchSharp.torch.ScalarType.Float32)) lin.weight.copy_(w);
        return reference;
    }
}
