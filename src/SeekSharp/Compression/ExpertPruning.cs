using System.Text.Json.Nodes;
using SeekSharp.Checkpoints;
using SeekSharp.Data;
using SeekSharp.Modeling;
using SeekSharp.Training;
using static TorchSharp.torch;

namespace SeekSharp.Compression;

// `seek prune experts`: drop the least salient routed experts of every MoE layer (REAP's criterion, see
// ExpertSaliency.cs), measured on calibration tokens. n_routed_experts is one config field, so every layer
// keeps the same count, ceil(F·E); which experts it keeps is the layer's own choice. The kept experts are
// renumbered 0..E'-1 in their original order, and the gate's weight rows and correction bias are sliced
// the same way, so for a token whose top-k were all kept the pruned router picks the same experts with
// the same weights (sigmoid scores are per expert; top-k normalization only sees the chosen ones; a softmax
// router with norm_topk_prob gives the same ratios too, without it its weights grow by the removed experts' share).
// Calibration runs in fp32 with no gradients; the statistics sum in float64.
// Fewer kept experts than num_experts_per_tok is refused, not clamped: changing k changes every token's
// mixture, a different model than the one whose saliency was measured. Grouped routing (n_group > 1) is
// refused by the config already, so n_group = topk_group = 1 stay consistent.

/// <summary>What to prune and on which tokens.</summary>
/// <param name="Tokens">calibration tokens read from the split's start, in windows of the model's context</param>
public sealed record ExpertPruningOptions(double KeepFraction, string Split = "train", long Tokens = ExpertPruningOptions.DefaultTokens)
{
    public const long DefaultTokens = 16384;
}

/// <summary>One expert's measurements, under its original index.</summary>
public sealed record ExpertScore(int Expert, double Saliency, long Routed, double Frequency);

/// <summary>One MoE layer: the kept experts in their new order (new index = position) and the removed ones.</summary>
public sealed record LayerPruning(int Layer, IReadOnlyList<ExpertScore> Kept, IReadOnlyList<ExpertScore> Removed);

public sealed record ExpertPruningResult(string OutDir, int ExpertsBefore, int ExpertsAfter, IReadOnlyList<LayerPruning> Layers,
    long Tokens, long BytesBefore, long BytesAfter);

public static class ExpertPruning
{
    public const string ReportFile = "pruning.json";
    const int WindowsPerForward = 8;

    /// <summary>Experts each layer keeps: ceil(F·E), at least 1. (The small tolerance keeps 0.3·10 at 3, not 4.)</summary>
    public static int KeptCount(int experts, double fraction) => Math.Max(1, (int)Math.Ceiling(fraction * experts - 1e-9));

    public static ExpertPruningResult Run(string modelDir, string dataDir, string outDir, ExpertPruningOptions o)
    {
        if (!(o.KeepFraction > 0 && o.KeepFraction <= 1))
            throw new SeekSharpException($"--keep-fraction: expected a number above 0 and at most 1, got {o.KeepFraction}.");
        if (o.Split is not ("train" or "val")) throw new SeekSharpException($"--split: expected train or val, got \"{o.Split}\".");
        if (o.Tokens < 1) throw new SeekSharpException($"--tokens: expected 1 or more, got {o.Tokens}.");
        RefuseOutput(outDir);
        using var ds = TokenDataset.Open(dataDir);
        var (tok, cfg) = Perplexity.CheckDataset(modelDir, ds, "calibrate on");
        var cfgPath = Path.Combine(modelDir, ModelFiles.ConfigFile);
        if (cfg.NRoutedExperts == 0)
            throw new SeekSharpException($"{cfgPath}: the model is dense (n_routed_experts 0): it has no routed experts to prune.");
        int experts = cfg.NRoutedExperts, keep = KeptCount(experts, o.KeepFraction);
        if (keep < cfg.NumExpertsPerTok)
            throw new SeekSharpException($"--keep-fraction: {o.KeepFraction} keeps {keep} of {experts} routed experts per layer, fewer than the "
                + $"{cfg.NumExpertsPerTok} each token is sent to (num_experts_per_tok in {cfgPath}); use at least {(double)cfg.NumExpertsPerTok / experts:0.###}.");
        var split = ds.Split(o.Split);
        if (split.Count < o.Tokens)
            throw new SeekSharpException($"--tokens: asked for {o.Tokens:N0} calibration tokens, but the {o.Split} split of {dataDir} holds only {split.Count:N0}; "
                + "lower --tokens or calibrate on a larger dataset.");

        using var model = ModelFiles.Load(modelDir);
        model.eval();
        var stats = Calibrate(model, split, o.Tokens);
        var layers = stats.Select(s => Choose(s.Layer, s.Stats, keep)).ToList();

        var pruned = cfg with { NRoutedExperts = keep, Preset = null };   // no longer the preset's shape
        using var small = new Transformer(pruned);
        CopyWeights(model, small, layers.ToDictionary(l => l.Layer, l => l.Kept.Select(k => (long)k.Expert).ToArray()));

        var tmp = Path.GetFullPath(outDir).TrimEnd(Path.DirectorySeparatorChar) + $".tmp-{Environment.ProcessId}-{Guid.NewGuid():N}";
        try
        {
            ModelFiles.Save(tmp, small, new Dictionary<string, string> { ["pruned_from"] = Path.GetFullPath(modelDir) }, tokenizerFrom: modelDir);
            var report = Report(modelDir, dataDir, o, tok.Hash, cfg, keep, layers);
            File.WriteAllText(Path.Combine(tmp, ReportFile), report.ToJsonString(ModelConfig.Json));
            // Checked again just before: a folder that appeared meanwhile is not replaced.
            RefuseOutput(outDir);
            if (Directory.Exists(outDir)) Directory.Delete(outDir);   // empty, checked above
            Directory.Move(tmp, outDir);
        }
        catch
        {
            try { if (Directory.Exists(tmp)) Directory.Delete(tmp, recursive: true); } catch (IOException) { }
            throw;
        }
        long before = ModelFiles.WeightBytes(modelDir);
        long after = ModelFiles.WeightBytes(outDir);
        return new ExpertPruningResult(outDir, experts, keep, layers, o.Tokens, before, after);
    }

    static void RefuseOutput(string outDir)
    {
        if (File.Exists(outDir)) throw new SeekSharpException($"{outDir}: --out is a file; expected a new (or empty) folder.");
        if (Directory.Exists(outDir) && Directory.EnumerateFileSystemEntries(outDir).Any())
            throw new SeekSharpException($"{outDir}: --out exists and is not empty; choose a new folder (nothing was written).");
    }

    /// <summary>Runs the model (no gradients, fp32) over the first <paramref name="tokens"/> tokens of the split in
    /// consecutive windows of its context, with every MoE layer's statistics set.</summary>
    public static List<(int Layer, ExpertStatistics Stats)> Calibrate(Transformer model, TokenSplit split, long tokens)
    {
        model.Unfreeze();   // the statistics come from the per-expert path (see MoE.Statistics)
        var moes = model.MoeLayers;
        var stats = moes.Select(m => (m.Layer, Stats: new ExpertStatistics(model.Config.NRoutedExperts))).ToList();
        for (int i = 0; i < moes.Count; i++) moes[i].Moe.Statistics = stats[i].Stats;
        try
        {
            using var _ = no_grad();
            int seqLen = (int)Math.Min(model.Config.MaxPositionEmbeddings, tokens);
            for (long start = 0; start < tokens;)
            {
                // Full windows in batches; the remainder (tokens not a multiple of the window) as one shorter window.
                long full = (tokens - start) / seqLen;
                int rows = (int)Math.Min(WindowsPerForward, Math.Max(1, full)), len = full == 0 ? (int)(tokens - start) : seqLen;
                var ids = new int[rows * len];
                split.Read(start, ids);
                using var scope = NewDisposeScope();
                model.Forward(tensor(ids.Select(x => (long)x).ToArray(), [rows, len]));
                start += (long)rows * len;
            }
        }
        finally { foreach (var (_, moe) in moes) moe.Statistics = null; }
        return stats;
    }

    /// <summary>The <paramref name="keep"/> most salient experts (ties: more often routed, then the lower index), in original order.</summary>
    public static LayerPruning Choose(int layer, ExpertStatistics s, int keep)
    {
        var (saliency, routed, frequency) = (s.Saliency, s.Routed, s.Frequency);
        var scores = Enumerable.Range(0, s.Experts).Select(e => new ExpertScore(e, saliency[e], routed[e], frequency[e])).ToList();
        var kept = scores.OrderByDescending(x => x.Saliency).ThenByDescending(x => x.Routed).ThenBy(x => x.Expert)
            .Take(keep).Select(x => x.Expert).ToHashSet();
        return new LayerPruning(layer, scores.Where(x => kept.Contains(x.Expert)).ToList(), scores.Where(x => !kept.Contains(x.Expert)).ToList());
    }

    // Every tensor of the pruned model from the original's: expert j of layer L is the original's kept[L][j], the gate's
    // rows and correction bias are those of the kept experts, everything else is copied as it is.
    static void CopyWeights(Transformer from, Transformer to, Dictionary<int, long[]> kept)
    {
        var source = from.state_dict();
        using var _ = no_grad();
        foreach (var (name, dst) in to.state_dict())
        {
            var parts = name.Split('.');
            bool moe = parts.Length > 4 && parts[0] == "model" && parts[1] == "layers" && parts[3] == "mlp" && kept.ContainsKey(int.Parse(parts[2]));
            if (moe && parts[4] == "experts")
            {
                parts[5] = kept[int.Parse(parts[2])][int.Parse(parts[5])].ToString();
                dst.copy_(source[string.Join('.', parts)]);
            }
            else if (moe && parts[4] == "gate")
            {
                using var rows = tensor(kept[int.Parse(parts[2])]);
                using var sliced = source[name].index_select(0, rows);
                dst.copy_(sliced);
            }
            else dst.copy_(source[name]);
        }
    }

    static JsonObject Report(string modelDir, string dataDir, ExpertPruningOptions o, string tokenizerHash, ModelConfig cfg, int keep, List<LayerPruning> layers)
    {
        static JsonArray Experts(IEnumerable<ExpertScore> xs) => new(xs.Select(x => (JsonNode)new JsonObject
        {
            ["expert"] = x.Expert, ["saliency"] = x.Saliency, ["routed_tokens"] = x.Routed, ["frequency"] = x.Frequency,
        }).ToArray());
        return new JsonObject
        {
            ["source_model"] = Path.GetFullPath(modelDir),
            ["criterion"] = "REAP: mean over the tokens routed to the expert of router weight x L2 norm of the expert output",
            ["keep_fraction"] = o.KeepFraction,
            ["n_routed_experts_before"] = cfg.NRoutedExperts,
            ["n_routed_experts_after"] = keep,
            ["num_experts_per_tok"] = cfg.NumExpertsPerTok,
            ["calibration"] = new JsonObject
            {
                ["data"] = Path.GetFullPath(dataDir), ["split"] = o.Split, ["tokens"] = o.Tokens,
                ["seq_len"] = (int)Math.Min(cfg.MaxPositionEmbeddings, o.Tokens), ["tokenizer_hash"] = tokenizerHash,
            },
            // kept: in the new order, so kept[j].expert is the original index of the pruned model's expert j.
            ["layers"] = new JsonArray(layers.Select(l => (JsonNode)new JsonObject
            {
                ["layer"] = l.Layer, ["kept"] = Experts(l.Kept), ["removed"] = Experts(l.Removed),
            }).ToArray()),
        };
    }

    /// <summary>Reads a pruned folder's pruning.json: per MoE layer, the original index of each kept expert in new order.</summary>
    public static Dictionary<int, int[]> KeptExperts(string prunedDir)
    {
        var path = Path.Combine(prunedDir, ReportFile);
        var root = JsonNode.Parse(File.ReadAllText(path)) ?? throw new SeekSharpException($"{path}: empty.");
        return root["layers"]!.AsArray().ToDictionary(l => (int)l!["layer"]!, l => l!["kept"]!.AsArray().Select(k => (int)k!["expert"]!).ToArray());
    }
}
