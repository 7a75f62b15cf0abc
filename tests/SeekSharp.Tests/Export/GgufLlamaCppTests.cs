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
        ModelDir = Path.Combine(root.Path, "tiny");
        // initializer_range 0.1 instead of 0.02: random logits that are far apart, so greedy decoding is decided
        // by the model and not by rounding between near ties (f16 weights round at 1e-3 relative).
        Config = Presets.Get("tiny") with { VocabSize = TokenizerFixture.VocabSize + 6, InitializerRange = 0.1 };
        using (var model = new Transformer(Config, seed: 11))
        {
            // A bias that changes which experts win: the exporter must carry it as exp_probs_b.
            using (TorchSharp.torch.no_grad())
                foreach (var (name, t) in model.state_dict().Where(kv => kv.Key.EndsWith("e_score_correction_bias")))
                    t.copy_(TorchSharp.torch.linspace(-0.3, 0.3, t.shape[0]).flip(0));
            ModelFiles.Save(ModelDir, model);
        }
        Tokenizer.Save(ModelDir);
        GgufExport.Run(ModelDir, F16, "f16");
        GgufExport.Run(ModelDir, F32, "f32");
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

public sealed class GgufLlamaCppTests(GgufFixture f) : IClassFixture<GgufFixture>
{
    const int Generate = 48;

    static readonly string[] Texts =
    [
        "the condensation of the ment", "Preconditions aren't re-ingested; they'll deal, he's sure.",
        "12345 and 7 or 3.14159, 2024-06-01, 1000000", "  two spaces,   three,\ttab  ", "line one\nline two\n\n\r\nend\n",
        "über café, naïve résumé — 日本語のテキスト ✓ 🙂", "   ", "\n", "x", "'S 'LL 'Re caps'D",
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
    public void GreedyDecodingAgreesWithLlamaCppInF16AndF32()
    {
        List<int> prompt = [f.Tokenizer.BosId, .. f.Tokenizer.Encode("the condensation of the ment, über 42")];
        List<int> ours;
        using (var model = ModelFiles.Load(f.ModelDir))
            ours = [.. new TokenGenerator(model).Generate(prompt, Generate, new SamplingOptions(0, 1), seed: 0)];
        Assert.Equal(Generate, ours.Count);
        foreach (var file in new[] { f.F32, f.F16 })
        {
            var theirs = LlamaCpp.Ints(LlamaCpp.Run(new { model = file, prompt, generate = Generate, contextSize = f.Config.MaxPositionEmbeddings })["generated"]);
            Assert.True(ours.SequenceEqual(theirs), $"{Path.GetFileName(file)}:\nours     [{string.Join(",", ours)}]\nllama.cpp [{string.Join(",", theirs)}]");
        }
    }
}
