namespace SeekSharp.Modeling;

// The model reports its own cost, computed from the config alone so it can be printed before anything
// is allocated. FLOPs follow the usual accounting (nanochat, PaLM appendix B): a matmul with P weights
// costs 2P FLOPs per token forward, backward costs twice the forward; attention scores and the value
// mix add 2·T·(qk + v)·H per layer forward for a context of T (we charge the full window, as nanochat
// does). The input embedding lookup is free; the output head is a matmul.

// MTP modules (num_nextn_predict_layers) are not in the parameter counts or the forward FLOPs, as DeepSeek-V3 reports
// 671B/37B without its MTP module and inference does not run them; a pretraining step does, so their cost is kept
// apart (MtpParams, MtpTrainingFlopsPerToken) and PretrainingFlopsPerToken adds it. Each module is one block (the
// last main layer's kind), two norms, eh_proj (2D -> D), its final norm and the shared head again as a matmul.

/// <summary>Parameter counts, FLOPs per token and KV-cache size of a config.</summary>
public sealed record ModelCost(
    long TotalParams, long ActiveParams, long EmbeddingParams,
    double ForwardFlopsPerToken, double TrainingFlopsPerToken, long KvCacheBytesPerToken)
{
    /// <summary>Parameters of the MTP modules (the shared embedding and head not counted again).</summary>
    public long MtpParams { get; init; }

    /// <summary>Training FLOPs per token of the MTP modules (forward and backward), which only pretraining runs.</summary>
    public double MtpTrainingFlopsPerToken { get; init; }

    /// <summary>FLOPs per token of a pretraining step: the main model's and, with MTP, the modules'.</summary>
    public double PretrainingFlopsPerToken => TrainingFlopsPerToken + MtpTrainingFlopsPerToken;

    /// <summary>Cost of <paramref name="cfg"/> at context length <paramref name="context"/> (default: max), bf16 cache.</summary>
    public static ModelCost Of(ModelConfig cfg, int? context = null, int cacheElementBytes = 2)
    {
        long d = cfg.HiddenSize, h = cfg.NumAttentionHeads;
        long attn = cfg.IsMla
            ? (cfg.QLoraRank == 0 ? d * h * cfg.QkHeadDim : d * cfg.QLoraRank + cfg.QLoraRank + cfg.QLoraRank * h * cfg.QkHeadDim)
              + d * (cfg.KvLoraRank + cfg.QkRopeHeadDim) + cfg.KvLoraRank
              + cfg.KvLoraRank * h * (cfg.QkNopeHeadDim + cfg.VHeadDim) + h * cfg.VHeadDim * d
            : 3 * d * h * cfg.QkRopeHeadDim + h * cfg.VHeadDim * d;
        long norms = 2 * d;
        long dense = 3 * d * cfg.IntermediateSize;
        long expert = 3 * d * cfg.MoeIntermediateSize;
        long moeTotal = cfg.NRoutedExperts * expert + cfg.NSharedExperts * expert + cfg.NRoutedExperts * d;
        long moeActive = cfg.NumExpertsPerTok * expert + cfg.NSharedExperts * expert + cfg.NRoutedExperts * d;

        long total = 0, active = 0;
        for (int i = 0; i < cfg.NumHiddenLayers; i++)
        {
            bool moe = cfg.IsMoeLayer(i);
            total += attn + norms + (moe ? moeTotal : dense);
            active += attn + norms + (moe ? moeActive : dense);
        }
        long embed = cfg.VocabSize * d;
        long head = cfg.TieWordEmbeddings ? 0 : embed;
        total += embed + head + d;
        active += embed + head + d;

        // Matmul weights a token touches: everything active except the embedding lookup and norms,
        // plus the output head (the tied embedding matrix is used as a matmul there).
        long matmulWeights = active - embed - head - d - cfg.NumHiddenLayers * norms + cfg.VocabSize * d;
        long t = context ?? cfg.MaxPositionEmbeddings;
        double attnPerLayer = 2.0 * t * (cfg.QkHeadDim + cfg.VHeadDim) * h;
        double attnFlops = attnPerLayer * cfg.NumHiddenLayers;
        double fwd = 2.0 * matmulWeights + attnFlops;

        int depth = cfg.NumNextnPredictLayers;
        bool mtpMoe = cfg.IsMoeLayer(cfg.NumHiddenLayers - 1);
        long mtpBlockMatmuls = attn - (cfg.IsMla ? cfg.QLoraRank + cfg.KvLoraRank : 0) + (mtpMoe ? moeActive : dense) + 2 * d * d;   // MLA's two norms are no matmul
        long mtpParams = depth * (attn + norms + (mtpMoe ? moeTotal : dense) + 2 * d * d + 3 * d);
        double mtpFwd = depth * (2.0 * (mtpBlockMatmuls + cfg.VocabSize * d) + attnPerLayer);
        return new ModelCost(total, active, embed + head, fwd, 3 * fwd,
            KvCache.BytesPerToken(cfg, cacheElementBytes)) { MtpParams = mtpParams, MtpTrainingFlopsPerToken = 3 * mtpFwd };
    }
}
