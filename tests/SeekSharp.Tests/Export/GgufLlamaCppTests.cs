using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using SeekSharp.Checkpoints;
using SeekSharp.Export;
using SeekSharp.Inference;
using SeekSharp.Modeling;
using SeekSharp.Tests.Cli;
using SeekSharp.Tests.Tokenization;
using SeekSharp.Tokenization;

namespace SeekSharp.Tests.Export;

// The proof that an exported GGUF is right is an independent program: llama.cpp itself, through npm's
// node-llama-cpp (pinned in tests/interop/package.json, with its lock file), loads the file, tokenizes
// and decodes greedily; every id must equal SeekSharp's own. Nothing here reads the GGUF back with our code.

/// <summary>A `tiny`-preset model folder (MLA + MoE: a dense first layer, shared + routed experts, sigmoid router
/// with a non-zero correction bias) with the shared test tokenizer, exported once as f16 and once as f32.</summary>
public sealed class GgufFixture : IDisposable
{
    readonly TempDir root = new();
    public string ModelDir { get; }
    public BpeTokenizer Tokenizer => TokenizerFixture.Tokenizer;
    public ModelConfig Config { get; }
    public string F16 => root.File("tiny-f16.gguf");
    public string F32 => root.File("tiny-f32.gguf");

    public GgufFixture()
    {
        // Six ids past the tokenizer's: the GGUF vocabulary must be padded to vocab_size.
        Config = Presets.Get("tiny") with { VocabSize = TokenizerFixture.VocabSize + 6 };
        ModelDir = Build(root.File("tiny"), Config);
        GgufExport.Run(ModelDir, F16, "f16");
        GgufExport.Run(ModelDir, F32, "f32");
    }

    /// <summary>A model folder of random weights for <paramref name="cfg"/> with the shared test tokenizer.</summary>
    public static string Build(string dir, ModelConfig cfg)
    {
        // initializer_range 0.1 instead of 0.02: random logits that are far apart, so greedy decoding is decided
        // by the model and not by rounding between near ties (f16 weights round at 1e-3 relative).
        using (var model = new Transformer(cfg with { InitializerRange = 0.1 }, seed: 11))
        {
            // A bias that changes which experts win: the exporter must carry it as exp_probs_b.
            using (TorchSharp.torch.no_grad())
                foreach (var (_, t) in model.state_dict().Where(kv => kv.Key.EndsWith("e_score_correction_bias")))
                    t.copy_(TorchSharp.torch.linspace(-0.3, 0.3, t.shape[0]).flip(0));
            TokenizerFixture.Tokenizer.Save(dir); // first: config.json takes the special ids from it
            ModelFiles.Save(dir, model);
        }
        return dir;
    }

    public string NewPath(string name) => root.File(Guid.NewGuid().ToString("N") + name);

    public void Dispose() => root.Dispose();
}

/// <summary>Runs tests/interop/run-gguf.mjs (llama.cpp through node-llama-cpp) on one request.</summary>
public static class LlamaCpp
{
    public static readonly string? InteropDir = FindInterop();

    static string? FindInterop()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            var dir = Path.Combine(d.FullName, "tests", "interop");
            if (File.Exists(Path.Combine(dir, "package.json"))) return dir;
        }
        return null;
    }

    public static bool Installed => InteropDir is not null && Directory.Exists(Path.Combine(InteropDir, "node_modules", "node-llama-cpp"));

    public static JsonNode Run(object request)
    {
        var psi = new ProcessStartInfo("node", "run-gguf.mjs")
        {
            WorkingDirectory = InteropDir!, RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        using var p = Process.Start(psi)!;
        p.StandardInput.Write(JsonSerializer.Serialize(request));
        p.StandardInput.Close();
        var err = p.StandardError.ReadToEndAsync();
        var output = p.StandardOutput.ReadToEnd();
        if (!p.WaitForExit(180_000)) { p.Kill(entireProcessTree: true); throw new TimeoutException("node-llama-cpp did not finish in 180 s"); }
        Assert.True(p.ExitCode == 0, $"node-llama-cpp exited {p.ExitCode}: {err.Result}\n{output}");
        return JsonNode.Parse(output.Trim().Split('\n')[^1])!;
    }

    public static int[] Ints(JsonNode? n) => n!.AsArray().Select(x => (int)x!).ToArray();
}

/// <summary>A test that needs node-llama-cpp: skipped, saying why, only when tests/interop has no node_modules.</summary>
public sealed class LlamaCppFactAttribute : FactAttribute
{
    public LlamaCppFactAttribute()
    {
        if (!LlamaCpp.Installed)
            Skip = "node-llama-cpp is not installed (run `npm ci --prefix tests/interop`; .ci/run does)";
    }
}

/// <summary>The theory form of <see cref="LlamaCppFactAttribute"/>.</summary>
public sealed class LlamaCppTheoryAttribute : TheoryAttribute
{
    public LlamaCppTheoryAttribute()
    {
        if (!LlamaCpp.Installed)
            Skip = "node-llama-cpp is not installed (run `npm ci --prefix tests/interop`; .ci/run does)";
    }
}

public sealed class GgufLlamaCppTests(GgufFixture f) : IClassFixture<GgufFixture>
{
    const int Generate = 48; // tokens compared (fewer only if <|eos|> comes first, never under 32)

    static readonly string[] Texts =
    [
        "the condensation of the ment", "Preconditions aren't re-ingested; they'll deal, he's sure.",
        "12345 and 7 or 3.14159, 2024-06-01, 1000000", "  two spaces,   three,\ttab  ", "line one\nline two\n\n\r\nend\n",
        "über café, naïve résumé — 日本語のテキスト ✓ 🙂", "   ", "\n", "x", "'S 'LL 'Re caps'D",
        "a                 b", "end   ", " \t\n \n\n  x", "Ωμέγα Привет مرحبا हिन्दी 한국어", "<|eos|> is text here, <|bos|>too",
    ];

    [LlamaCppFact]
    public void TokenizationAgreesWithLlamaCpp()
    {
        var r = LlamaCpp.Run(new { model = f.F16, tokenize = Texts });
        var theirs = r["tokens"]!.AsArray();
        for (int i = 0; i < Texts.Length; i++)
            Assert.True(f.Tokenizer.Encode(Texts[i]).SequenceEqual(LlamaCpp.Ints(theirs[i])),
                $"text {i} {JsonSerializer.Serialize(Texts[i])}: ours [{string.Join(",", f.Tokenizer.Encode(Texts[i]))}], llama.cpp [{string.Join(",", LlamaCpp.Ints(theirs[i]))}]");
    }

    [LlamaCppFact]
    public void GreedyDecodingAgreesWithLlamaCppInF16AndF32() => AssertGreedyAgrees(f, f.ModelDir, f.F32, f.F16);

    /// <summary>The other paths through the mapping, each in f32: no query compression (attn_q), an untied head
    /// (output.weight), a softmax router without the bias, unnormalized and scaled gate weights, two shared
    /// experts, and a dense MLA model (every layer a leading dense block).</summary>
    public static TheoryData<string> Variants => ["plain-q untied softmax", "dense"];

    [LlamaCppTheory, MemberData(nameof(Variants))]
    public void OtherConfigurationsAgreeWithLlamaCpp(string variant)
    {
        var cfg = variant == "dense"
            ? f.Config with { NRoutedExperts = 0, NSharedExperts = 0, NumExpertsPerTok = 0, AuxLossAlpha = 0, FirstKDenseReplace = 0 }
            : f.Config with
            {
                // Softmax routing without the bias is DeepSeek-V2's router, not one transformers computes under deepseek_v3.
                ModelType = "deepseek_v2", QLoraRank = 0, TieWordEmbeddings = false, ScoringFunc = "softmax", TopkMethod = "greedy", NormTopkProb = false,
                RoutedScalingFactor = 2.5, NSharedExperts = 2, NumExpertsPerTok = 3,
            };
        var dir = GgufFixture.Build(f.NewPath(variant.Replace(' ', '-')), cfg);
        var gguf = f.NewPath(".gguf");
        GgufExport.Run(dir, gguf, "f32");
        AssertGreedyAgrees(f, dir, gguf);
    }

    /// <summary>The MHA presets' shapes at test size: `small-dense` (dense, tied) as llama, `small` (a dense first layer,
    /// a shared expert, top-k of routed experts, sigmoid router with the bias) as glm4moe, and a glm4moe with an untied
    /// head and a softmax router without the bias (exp_probs_b written as zeros).</summary>
    public static TheoryData<string> MhaShapes => ["small-dense", "small", "small untied softmax"];

    [LlamaCppTheory, MemberData(nameof(MhaShapes))]
    public void MhaPresetsAgreeWithLlamaCppAsLlamaAndGlm4Moe(string shape)
    {
        var dense = Presets.Get("small-dense") with
        {
            VocabSize = TokenizerFixture.VocabSize + 6, NumHiddenLayers = 2, HiddenSize = 64, NumAttentionHeads = 4, NumKeyValueHeads = 4,
            QkRopeHeadDim = 16, VHeadDim = 16, IntermediateSize = 128, MaxPositionEmbeddings = 128,
        };
        var cfg = shape == "small-dense" ? dense : dense with
        {
            NumHiddenLayers = 3, FirstKDenseReplace = 1, NRoutedExperts = 8, NSharedExperts = 1, NumExpertsPerTok = 2, MoeIntermediateSize = 32, AuxLossAlpha = 1e-4,
        };
        if (shape.Contains("softmax"))
            cfg = cfg with { ModelType = "deepseek_v2", TieWordEmbeddings = false, ScoringFunc = "softmax", TopkMethod = "greedy", NormTopkProb = false, RoutedScalingFactor = 2.5 };
        var dir = GgufFixture.Build(f.NewPath(shape.Replace(' ', '-')), cfg);
        var (f16, f32) = (f.NewPath(".gguf"), f.NewPath(".gguf"));
        Assert.Equal(shape == "small-dense" ? "llama" : "glm4moe", GgufExport.Run(dir, f16, "f16").Architecture);
        GgufExport.Run(dir, f32, "f32");
        AssertGreedyAgrees(f, dir, f32, f16);
        var theirs = LlamaCpp.Run(new { model = f16, tokenize = Texts })["tokens"]!.AsArray();
        for (int i = 0; i < Texts.Length; i++) Assert.Equal(f.Tokenizer.Encode(Texts[i]), LlamaCpp.Ints(theirs[i]));
    }

    /// <summary>`seek generate`'s greedy tokens on <paramref name="modelDir"/> equal llama.cpp's on each GGUF file.</summary>
    internal static void AssertGreedyAgrees(GgufFixture f, string modelDir, params string[] files)
    {
        List<int> prompt = [f.Tokenizer.BosId, .. f.Tokenizer.Encode("the condensation of the ment, über 42")];
        List<int> ours;
        using (var model = ModelFiles.Load(modelDir))
            ours = [.. new TokenGenerator(model).Generate(prompt, Generate, new SamplingOptions(0, 1), seed: 0, new HashSet<int> { f.Tokenizer.EosId })];
        // Both sides stop at <|eos|> (node-llama-cpp's evaluate ends at an end-of-generation token, `seek generate` too);
        // these weights run past 32 tokens without one, so the comparison covers at least that many.
        Assert.True(ours.Count >= 32, $"only {ours.Count} tokens before <|eos|>");
        foreach (var file in files)
        {
            var theirs = LlamaCpp.Ints(LlamaCpp.Run(new { model = file, prompt, generate = Generate, contextSize = f.Config.MaxPositionEmbeddings })["generated"]);
            Assert.True(ours.SequenceEqual(theirs), $"{Path.GetFileName(file)}:\nours      [{string.Join(",", ours)}]\nllama.cpp [{string.Join(",", theirs)}]");
        }
    }
}
