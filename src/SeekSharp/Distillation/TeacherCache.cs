using System.Security.Cryptography;
using System.Text.Json.Serialization;
using SeekSharp.Alignment;
using SeekSharp.Checkpoints;
using SeekSharp.Ledger;
using SeekSharp.Modeling;
using SeekSharp.Tokenization;
using SeekSharp.Training;
using static TorchSharp.torch;

namespace SeekSharp.Distillation;

// Builds (once) or reopens the teacher's top-k cache for the conversations an SFT run trains on. It runs inside
// the student's SFT (SftTrainer), after the ledger has started, so the teacher's forward passes are billed to the
// student. The dataset hash covers the encoded conversations themselves (ids and loss mask, in order), so a cache
// is reused only for exactly the tokens it was made from, whatever file they came from.

/// <summary>Logit distillation settings of an SFT run (saved in sft_config.json).</summary>
public sealed record KdSettings
{
    [JsonPropertyName("teacher")] public string TeacherDir { get; init; } = "";
    [JsonPropertyName("cache")] public string CachePath { get; init; } = "";
    [JsonPropertyName("top_k")] public int K { get; init; } = 32;
    [JsonPropertyName("tau")] public double Tau { get; init; } = 2.0;
    [JsonPropertyName("alpha")] public double Alpha { get; init; } = 0.5;

    public KdSettings Validate()
    {
        if (K < 1) throw new SeekSharpException($"--top-k: expected 1 or more, got {K}.");
        if (Tau <= 0 || !double.IsFinite(Tau)) throw new SeekSharpException($"--tau: expected a positive temperature, got {Tau}.");
        if (Alpha is < 0 or > 1) throw new SeekSharpException($"--alpha: expected a weight in [0, 1], got {Alpha}.");
        return this;
    }
}

public static class TeacherCache
{
    /// <summary>Loss tokens of one conversation as ChatBatch counts them (targets are the next token where it is masked in).</summary>
    public static int LossTokens(ChatTokens c) => c.Mask.Skip(1).Count(m => m);

    public static string TeacherHash(string dir)
    {
        using var sha = SHA256.Create();
        foreach (var f in new[] { ModelFiles.ConfigFile }.Concat(ModelFiles.WeightFiles(dir)))
        {
            using var s = File.OpenRead(f == ModelFiles.ConfigFile ? Path.Combine(dir, f) : f);
            var buf = new byte[1 << 20];
            int n;
            while ((n = s.Read(buf)) > 0) sha.TransformBlock(buf, 0, n, null, 0);
        }
        sha.TransformFinalBlock([], 0, 0);
        return Convert.ToHexStringLower(sha.Hash!)[..16];
    }

    public static string DatasetHash(IReadOnlyList<ChatTokens> rows)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var r in rows)
        {
            sha.AppendData(BitConverter.GetBytes(r.Ids.Length));
            foreach (var id in r.Ids) sha.AppendData(BitConverter.GetBytes(id));
            foreach (var m in r.Mask) sha.AppendData([(byte)(m ? 1 : 0)]);
        }
        return Convert.ToHexStringLower(sha.GetHashAndReset())[..16];
    }

    /// <summary>The open cache and each conversation's first row in it.</summary>
    public static (TopKCache Cache, Dictionary<ChatTokens, long> Offsets) Prepare(KdSettings kd, BpeTokenizer tok, IReadOnlyList<ChatTokens> rows,
        int maxTokens, string precision, Device device, RunLedger ledger, ITrainingObserver? observer)
    {
        var offsets = new Dictionary<ChatTokens, long>(ReferenceEqualityComparer.Instance);
        long total = 0;
        foreach (var r in rows) { offsets[r] = total; total += LossTokens(r); }
        var teacherTok = BpeTokenizer.Load(kd.TeacherDir);
        if (teacherTok.Hash != tok.Hash)
            throw new SeekSharpException($"{Path.Combine(kd.TeacherDir, BpeTokenizer.FileNames[0])}: the teacher's tokenizer is {teacherTok.Hash} but the student's is {tok.Hash}.");
        var key = new TopKCacheKey(kd.K, (float)kd.Tau, tok.VocabSize, TeacherHash(kd.TeacherDir), DatasetHash(rows), tok.Hash);
        if (!File.Exists(kd.CachePath)) Build(kd, key, rows, total, maxTokens, precision, device, ledger, observer);
        else observer?.OnMessage($"teacher cache: reusing {kd.CachePath}");
        var cache = TopKCache.Open(kd.CachePath, key);
        if (cache.Positions != total)
        {
            cache.Dispose();
            throw new SeekSharpException($"{kd.CachePath}: {cache.Positions} positions, but the data has {total} loss tokens.");
        }
        observer?.OnMessage($"teacher cache: {kd.CachePath}, {total:N0} positions x top-{kd.K}, {new FileInfo(kd.CachePath).Length / 1048576.0:F2} MiB (memory-mapped)");
        return (cache, offsets);
    }

    static void Build(KdSettings kd, TopKCacheKey key, IReadOnlyList<ChatTokens> rows, long total, int maxTokens, string precision, Device device,
        RunLedger ledger, ITrainingObserver? observer)
    {
        using var teacher = ModelFiles.Load(kd.TeacherDir, device);
        if (teacher.Config.VocabSize != key.Vocab)
            throw new SeekSharpException($"{Path.Combine(kd.TeacherDir, ModelFiles.ConfigFile)}: vocab_size {teacher.Config.VocabSize}, but the student's tokenizer has {key.Vocab} tokens.");
        if (kd.K > key.Vocab) throw new SeekSharpException($"--top-k: {kd.K} is more than the vocabulary's {key.Vocab} tokens.");
        teacher.SetComputeType(Transformer.ComputeTypeOf(precision));
        teacher.eval();
        observer?.OnMessage($"teacher cache: scoring {rows.Count} conversations ({total:N0} positions) with {kd.TeacherDir}");
        var values = new Half[total * kd.K];
        var ids = new int[total * kd.K];
        long at = 0, tokens = 0;
        const int batchSize = 16;
        for (int b = 0; b < rows.Count; b += batchSize)
        {
            using var scope = NewDisposeScope();
            using var _ = no_grad();
            var batch = ChatBatch.Collate(rows.Skip(b).Take(batchSize).ToList(), 0, maxTokens);
            var (logits, _) = teacher.Forward(tensor(batch.Inputs, [batch.Rows, batch.Length]).to(device));
            var targets = tensor(batch.Targets);
            var idx = targets.ne(LmLoss.Ignore).nonzero().squeeze(1);
            var rowsAt = logits.view(-1, logits.shape[^1]).to(float32).cpu().index_select(0, idx);
            var (top, topIds) = rowsAt.topk(kd.K, dim: 1);
            var v = top.data<float>().ToArray();
            var i = topIds.data<long>().ToArray();
            for (int j = 0; j < v.Length; j++) { values[at * kd.K + j] = (Half)v[j]; ids[at * kd.K + j] = (int)i[j]; }
            at += idx.shape[0];
            tokens += batch.Tokens;
        }
        if (at != total) throw new InvalidOperationException($"teacher cache: {at} positions scored, {total} expected");
        ledger.AddTokens(tokens);
        ledger.AddFlops(ModelCost.Of(teacher.Config, maxTokens).ForwardFlopsPerToken * tokens);
        TopKCache.Write(kd.CachePath, key, total, (r, vs, ix) =>
        {
            values.AsSpan((int)(r * kd.K), kd.K).CopyTo(vs);
            ids.AsSpan((int)(r * kd.K), kd.K).CopyTo(ix);
        });
        ledger.RecordStorage(kd.CachePath, StorageKind.Data);
    }
}
