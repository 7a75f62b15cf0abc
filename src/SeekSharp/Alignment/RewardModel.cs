using SeekSharp.Native;
using System.Text.Json;
using System.Text.Json.Serialization;
using SeekSharp.Checkpoints;
using SeekSharp.IO;
using SeekSharp.Modeling;
using SeekSharp.Tokenization;
using TorchSharp;
using static TorchSharp.torch;

namespace SeekSharp.Alignment;

// A reward model is a SeekSharp decoder with a scalar head: the final hidden state at the <|eos|> that
// closes the assistant turn, through score (D → 1, with bias), is the reward. Reading the last token is
// what causal attention allows: it is the only position that has seen the whole completion. Trained with
// Bradley–Terry, score differences are preference log-odds; trained on verifier labels, σ(score) is the
// probability that the completion is correct. The folder is a normal model folder (the backbone, so the
// usual tools can read it) plus reward_head.safetensors and reward_config.json.

/// <summary>reward_config.json: how a reward model was made.</summary>
public sealed record RewardModelInfo
{
    /// <summary>"bradley_terry" or "bce".</summary>
    [JsonPropertyName("objective")] public string Objective { get; init; } = "bradley_terry";
    /// <summary>The model folder the backbone started from.</summary>
    [JsonPropertyName("base_model")] public string? BaseModel { get; init; }

    public static string Name(RewardObjective o) => o == RewardObjective.BradleyTerry ? "bradley_terry" : "bce";
    public static readonly JsonSerializerOptions Json = new() { WriteIndented = true };
}

/// <summary>A decoder with a scalar reward head; scores (prompt, completion) pairs in batches.</summary>
public sealed class RewardModel : IDisposable
{
    public const string HeadFile = "reward_head.safetensors";
    public const string InfoFile = "reward_config.json";

    readonly TorchSharp.Modules.Linear score;

    public Transformer Backbone { get; }
    public BpeTokenizer Tokenizer { get; }
    public RewardModelInfo Info { get; }
    public Device Device { get; }

    RewardModel(Transformer backbone, BpeTokenizer tok, RewardModelInfo info, Device device, long seed)
    {
        Backbone = backbone;
        Tokenizer = tok;
        Info = info;
        Device = device;
        score = nn.Linear(backbone.Config.HiddenSize, 1, hasBias: true);
        using (no_grad())
        using (var g = new Generator((ulong)seed))
        {
            score.weight!.copy_(Scalars.Normal(0, backbone.Config.InitializerRange, score.weight.shape, g));
            score.bias!.zero_();
        }
        score.to(device);
    }

    /// <summary>A fresh head on a pretrained (or fine-tuned) model folder.</summary>
    public static RewardModel FromBase(string modelDir, RewardObjective objective, long seed = 0, Device? device = null)
    {
        device ??= CPU;
        var tok = BpeTokenizer.Load(modelDir);
        var backbone = ModelFiles.Load(modelDir, device);
        try { backbone.RefuseQuantizedTraining("reward-model training (chat rm)", modelDir); }
        catch { backbone.Dispose(); throw; }
        return new RewardModel(backbone, tok, new RewardModelInfo { Objective = RewardModelInfo.Name(objective), BaseModel = modelDir }, device, seed);
    }

    /// <summary>Loads a folder written by <see cref="Save"/> (`seek chat rm`).</summary>
    public static RewardModel Load(string dir, Device? device = null)
    {
        device ??= CPU;
        var infoPath = Path.Combine(dir, InfoFile);
        var infoBytes = CheckedFile.ReadAllBytes(infoPath, "not found (expected a reward model folder written by `seek chat rm`).", CheckedFile.MaxConfigBytes);
        RewardModelInfo info;
        try { info = JsonSerializer.Deserialize<RewardModelInfo>(infoBytes, RewardModelInfo.Json) ?? throw new JsonException("empty"); }
        catch (JsonException e) { throw new SeekSharpException($"{infoPath}: malformed reward config: {e.Message}"); }
        var tok = BpeTokenizer.Load(dir);
        var backbone = ModelFiles.Load(dir, device);
        var rm = new RewardModel(backbone, tok, info, device, 0);
        var headPath = Path.Combine(dir, HeadFile);
        Dictionary<string, Tensor> tensors;
        try { CheckedFile.Check(headPath, "reward head not found."); tensors = Safetensors.Load(headPath); }
        catch { rm.Dispose(); throw; }
        try
        {
            using var _ = no_grad();
            foreach (var (name, p) in rm.HeadParameters)
            {
                if (!tensors.TryGetValue(name, out var t) || !t.shape.SequenceEqual(p.shape))
                    throw new SeekSharpException($"{headPath}: tensor '{name}' missing or not of shape [{string.Join(",", p.shape)}].");
                p.copy_(t);
                if (!Native.Finite.All(p)) throw new SeekSharpException($"{headPath}: tensor '{name}' holds NaN or infinite values.");
            }
        }
        catch { rm.Dispose(); throw; }
        finally { foreach (var t in tensors.Values) t.Dispose(); }
        return rm;
    }

    /// <summary>Writes the backbone (config.json, model.safetensors), tokenizer, head and reward_config.json.</summary>
    public void Save(string dir)
    {
        Tokenizer.Save(dir); // first: the model's config.json takes its special ids from it
        ModelFiles.Save(dir, Backbone);
        SaveHead(dir);
    }

    /// <summary>Writes what a reward model adds to a model folder: the head and reward_config.json.</summary>
    public void SaveHead(string dir)
    {
        Safetensors.Save(Path.Combine(dir, HeadFile), HeadParameters.ToDictionary(p => p.Name, p => (Tensor)p.P));
        AtomicFile.WriteAllText(Path.Combine(dir, InfoFile), JsonSerializer.Serialize(Info, RewardModelInfo.Json));
    }

    /// <summary>The head's parameters ("score.weight" (1, D), "score.bias" (1)).</summary>
    public IReadOnlyList<(string Name, TorchSharp.Modules.Parameter P)> HeadParameters =>
        [("score.weight", score.weight!), ("score.bias", score.bias!)];

    /// <summary>Backbone and head parameters: what full reward-model training updates.</summary>
    public IEnumerable<(string Name, TorchSharp.Modules.Parameter P)> NamedParameters() =>
        Backbone.named_parameters().Concat(HeadParameters);

    /// <summary>Ids of a prompt up to the assistant's turn (the chat template with the generation prompt).</summary>
    public int[] EncodePrompt(string prompt) => ChatTemplate.EncodeChat(Tokenizer, [new("user", prompt)], addGenerationPrompt: true).Ids;

    /// <summary>Ids of assistant text (R1 tags as their tokens), without the closing &lt;|eos|&gt;.</summary>
    public int[] EncodeCompletion(string completion)
    {
        var ids = new List<int>();
        ChatTemplate.EncodeAssistantContent(Tokenizer, completion, ids);
        return [.. ids];
    }

    /// <summary>The sequence a score is read from: prompt + completion + &lt;|eos|&gt; (appended when the completion
    /// does not end with it), cut from the left to the context so the end the score reads is always kept.</summary>
    public int[] Sequence(IReadOnlyList<int> promptIds, IReadOnlyList<int> completionIds)
    {
        var ids = new List<int>(promptIds.Count + completionIds.Count + 1);
        ids.AddRange(promptIds);
        ids.AddRange(completionIds);
        if (ids.Count == 0 || ids[^1] != Tokenizer.EosId) ids.Add(Tokenizer.EosId);
        int ctx = Backbone.Config.MaxPositionEmbeddings;
        return ids.Count > ctx ? ids.GetRange(ids.Count - ctx, ctx).ToArray() : [.. ids];
    }

    /// <summary>Scores of sequences (B), with gradients when enabled: right-padded into one batch, each read at its last token.</summary>
    public Tensor Scores(IReadOnlyList<int[]> sequences)
    {
        using var scope = NewDisposeScope();
        // Lengths rounded up as SFT batches are (ChatBatch.LengthQuantum): fewer distinct shapes for bf16 matmuls.
        int longest = sequences.Max(s => s.Length), rows = sequences.Count;
        int length = Math.Min(Backbone.Config.MaxPositionEmbeddings, (longest + ChatBatch.LengthQuantum - 1) / ChatBatch.LengthQuantum * ChatBatch.LengthQuantum);
        var ids = new long[rows * length];
        Array.Fill(ids, Tokenizer.PadId);
        var last = new long[rows];
        for (int r = 0; r < rows; r++)
        {
            for (int t = 0; t < sequences[r].Length; t++) ids[r * length + t] = sequences[r][t];
            last[r] = r * length + sequences[r].Length - 1;
        }
        var (h, _) = Backbone.ForwardHidden(tensor(ids, [rows, length]).to(Device));        // (B, T, D)
        var at = h.reshape(rows * length, -1).index_select(0, tensor(last).to(Device));     // (B, D)
        return score.forward(at.to_type(ScalarType.Float32)).squeeze(-1).MoveToOuterDisposeScope();
    }

    /// <summary>Rewards of completions to prompts, as ids (prompt: <see cref="EncodePrompt"/>; completion: generated ids).</summary>
    public float[] Score(IReadOnlyList<IReadOnlyList<int>> promptIds, IReadOnlyList<IReadOnlyList<int>> completionIds, int batchSize = 16)
    {
        if (promptIds.Count != completionIds.Count)
            throw new ArgumentException($"{promptIds.Count} prompts but {completionIds.Count} completions");
        var result = new float[promptIds.Count];
        using var _ = no_grad();
        for (int start = 0; start < result.Length; start += batchSize)
        {
            using var scope = NewDisposeScope();
            int n = Math.Min(batchSize, result.Length - start);
            var seqs = Enumerable.Range(start, n).Select(i => Sequence(promptIds[i], completionIds[i])).ToList();
            Scores(seqs).cpu().data<float>().CopyTo(result, start);
        }
        return result;
    }

    /// <summary>Rewards of completion texts to prompt texts.</summary>
    public float[] Score(IReadOnlyList<string> prompts, IReadOnlyList<string> completions, int batchSize = 16) =>
        Score(prompts.Select(p => (IReadOnlyList<int>)EncodePrompt(p)).ToList(), completions.Select(c => (IReadOnlyList<int>)EncodeCompletion(c)).ToList(), batchSize);

    public void Dispose()
    {
        score.Dispose();
        Backbone.Dispose();
    }
}
