namespace SeekSharp.Modeling;

// Named sizes. `small-dense` is the performance reference fixed by the project (vocab 4096, context 256,
// 6 layers, width 384, 6 heads, MLP 4x, tied embeddings). "MLP 4x" is read as the parameter and FLOP
// budget of a 4x two-matrix MLP, spent LLaMA-style on a SwiGLU of hidden 2/3·4·384 = 1024 (three
// matrices of 384×1024 = two of 384×1536). `small` is its MoE twin with equal active FLOPs per token:
// layer 0 stays dense, the others have 1 shared + top-3 of 16 routed experts of width 256 (4 × 256 = 1024).
// See docs/decisions/0002-presets.md.

/// <summary>Model presets by name.</summary>
public static class Presets
{
    static readonly ModelConfig SmallDense = new()
    {
        VocabSize = 4096, MaxPositionEmbeddings = 256, NumHiddenLayers = 6, HiddenSize = 384,
        NumAttentionHeads = 6, NumKeyValueHeads = 6, AttentionType = "mha", QkRopeHeadDim = 64, VHeadDim = 64,
        IntermediateSize = 1024, TieWordEmbeddings = true, Preset = "small-dense",
    };

    static readonly Dictionary<string, ModelConfig> All = new()
    {
        // Seconds per step: tests and the quickstart. Exercises MLA and MoE together.
        ["tiny"] = new ModelConfig
        {
            VocabSize = 1024, MaxPositionEmbeddings = 128, NumHiddenLayers = 4, HiddenSize = 128,
            NumAttentionHeads = 4, NumKeyValueHeads = 4, AttentionType = "mla",
            QLoraRank = 64, KvLoraRank = 32, QkNopeHeadDim = 32, QkRopeHeadDim = 16, VHeadDim = 32,
            IntermediateSize = 384, FirstKDenseReplace = 1,
            NRoutedExperts = 8, NSharedExperts = 1, NumExpertsPerTok = 2, MoeIntermediateSize = 64,
            AuxLossAlpha = 1e-4, Preset = "tiny",
        },
        ["small-dense"] = SmallDense,
        ["small"] = SmallDense with
        {
            FirstKDenseReplace = 1, NRoutedExperts = 16, NSharedExperts = 1, NumExpertsPerTok = 3,
            MoeIntermediateSize = 256, AuxLossAlpha = 1e-4, Preset = "small",
        },
        // Finer-grained experts at small's active and total size (32 routed x 128, top-6, 2 shared), DeepSeekMoE's
        // segmentation: compared with small in a 20-minute race (decision 0018); slower on the clock here.
        ["small-fine32"] = SmallDense with
        {
            FirstKDenseReplace = 1, NRoutedExperts = 32, NSharedExperts = 2, NumExpertsPerTok = 6,
            MoeIntermediateSize = 128, AuxLossAlpha = 1e-4, Preset = "small-fine32",
        },
        // MLA + MoE at the size of the small presets, for comparing attention kinds.
        ["small-mla"] = SmallDense with
        {
            AttentionType = "mla", QLoraRank = 192, KvLoraRank = 128, QkNopeHeadDim = 64, QkRopeHeadDim = 32, VHeadDim = 64,
            FirstKDenseReplace = 1, NRoutedExperts = 16, NSharedExperts = 1, NumExpertsPerTok = 3,
            MoeIntermediateSize = 256, AuxLossAlpha = 1e-4, Preset = "small-mla",
        },
        // A dense distillation student (seek distill), about a tenth of small-dense: 4 layers, width 256, MHA, SwiGLU
        // 704 (~2.75 x), tied embeddings: 3.2M parameters in the blocks, 3.4M in all with the R1 recipe's 713-token
        // arithmetic vocabulary (a preset student takes its teacher's), 4.3M at vocab 4096. Dense, because R1's distilled students are dense.
        ["mini"] = SmallDense with
        {
            NumHiddenLayers = 4, HiddenSize = 256, NumAttentionHeads = 4, NumKeyValueHeads = 4, IntermediateSize = 704, Preset = "mini",
        },
        // A step up for a server with a few hours: 12 layers, width 768, MLA, 64 routed experts.
        ["medium"] = new ModelConfig
        {
            VocabSize = 32768, MaxPositionEmbeddings = 1024, NumHiddenLayers = 12, HiddenSize = 768,
            NumAttentionHeads = 12, NumKeyValueHeads = 12, AttentionType = "mla",
            QLoraRank = 384, KvLoraRank = 256, QkNopeHeadDim = 64, QkRopeHeadDim = 32, VHeadDim = 64,
            IntermediateSize = 2048, FirstKDenseReplace = 1,
            NRoutedExperts = 64, NSharedExperts = 2, NumExpertsPerTok = 6, MoeIntermediateSize = 256,
            AuxLossAlpha = 1e-4, TieWordEmbeddings = false, Preset = "medium",
        },
    };

    public static IReadOnlyCollection<string> Names => All.Keys;

    /// <summary>The preset called <paramref name="name"/>; the error lists the known names.</summary>
    public static ModelConfig Get(string name) =>
        All.TryGetValue(name, out var cfg)
            ? cfg.Validate($"preset '{name}'")
            : throw new SeekSharpException($"unknown preset '{name}': expected one of {string.Join(", ", All.Keys)}.");
}
