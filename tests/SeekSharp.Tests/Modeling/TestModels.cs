using SeekSharp.Modeling;

namespace SeekSharp.Tests.Modeling;

/// <summary>Very small configs for tests: milliseconds per forward.</summary>
public static class TestModels
{
    public static ModelConfig Mla(bool moe = true) => new()
    {
        VocabSize = 64, MaxPositionEmbeddings = 64, NumHiddenLayers = 2, HiddenSize = 32,
        NumAttentionHeads = 2, NumKeyValueHeads = 2, AttentionType = "mla",
        QLoraRank = 16, KvLoraRank = 16, QkNopeHeadDim = 8, QkRopeHeadDim = 8, VHeadDim = 8,
        IntermediateSize = 64, FirstKDenseReplace = 1,
        NRoutedExperts = moe ? 4 : 0, NSharedExperts = moe ? 1 : 0, NumExpertsPerTok = moe ? 2 : 0, MoeIntermediateSize = 16,
        AuxLossAlpha = moe ? 1e-3 : 0,
    };

    public static ModelConfig Mha(bool moe = false) => Mla(moe) with
    {
        AttentionType = "mha", QLoraRank = 0, KvLoraRank = 0, QkNopeHeadDim = 0, QkRopeHeadDim = 16, VHeadDim = 16,
    };
}
