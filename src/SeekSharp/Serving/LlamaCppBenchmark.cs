using System.ComponentModel;
using System.Diagnostics;
using System.Text.Json;
using SeekSharp.Checkpoints;
using SeekSharp.Export;
using SeekSharp.Modeling;
using static TorchSharp.torch;

namespace SeekSharp.Serving;

// Single-stream decode of llama.cpp and of SeekSharp's engine on the same model, in one run: the model folder
// is exported to a temporary GGUF (GgufExport), llama.cpp decodes it through node-llama-cpp
// (tests/interop/bench-decode.mjs, one node process per round, each thread count in turn) and the engine
// decodes the folder in bf16 (or the same q8_0/q4_0 blocks as the file), both greedy from the same prompt ids for the same number of tokens. Rounds
// alternate the two so load from other processes on the machine spreads over both; medians per runner are
// compared, llama.cpp at its best thread count (on a small shared machine more threads can be much slower).
// Both count decode only: from the first generated token to the last, prefill excluded.

/// <summary>One decode measurement: llama.cpp at <see cref="Threads"/> threads, or SeekSharp (Threads: torch's).</summary>
public sealed record DecodeRun(int Round, string Runner, int Threads, int Tokens, double TokensPerSecond);

/// <summary>Medians of a <see cref="LlamaCppBenchmark"/> run: llama.cpp per thread count, SeekSharp, and the ratio
/// SeekSharp / llama.cpp at llama.cpp's best thread count.</summary>
public sealed record DecodeComparison(IReadOnlyList<DecodeRun> Runs, IReadOnlyDictionary<int, double> LlamaMedians, int BestThreads,
    double SeekSharpMedian, double Ratio, string Type, string SeekSharpType);

public static class LlamaCppBenchmark
{
    public const string Script = "bench-decode.mjs";

    /// <summary>tests/interop (with node-llama-cpp installed) above the program's folder or the working directory.</summary>
    public static string FindInterop()
    {
        foreach (var start in new[] { AppContext.BaseDirectory, Environment.CurrentDirectory })
            for (var d = new DirectoryInfo(start); d is not null; d = d.Parent)
            {
                var dir = Path.Combine(d.FullName, "tests", "interop");
                if (File.Exists(Path.Combine(dir, Script)) && Directory.Exists(Path.Combine(dir, "node_modules", "node-llama-cpp"))) return dir;
            }
        throw new SeekSharpException("node-llama-cpp: not found; expected tests/interop/node_modules/node-llama-cpp (and tests/interop/" + Script +
            ") above the seek binary or the working directory: run `npm ci --prefix tests/interop` in a SeekSharp checkout and start from there.");
    }

    /// <summary>What SeekSharp's side runs for a GGUF type from a full-precision folder: the same q8_0/q4_0 blocks, else bf16
    /// matmuls. A quantized folder runs as stored.</summary>
    static string SeekSharpType(string ggufType) => ggufType is "q8_0" or "q4_0" ? ggufType : "bf16";

    /// <summary>Runs the comparison on <paramref name="modelDir"/>. Exports to a temporary GGUF of <paramref name="type"/>.</summary>
    public static DecodeComparison Run(string modelDir, int tokens, IReadOnlyList<int> threads, int rounds, int promptTokens = 16,
        string type = "f16", Action<string>? progress = null)
    {
        if (tokens < 2) throw new SeekSharpException($"--tokens: expected 2 or more (decode is timed from the first generated token), got {tokens}.");
        if (rounds < 1) throw new SeekSharpException($"--rounds: expected 1 or more, got {rounds}.");
        if (threads.Count == 0 || threads.Any(t => t < 1)) throw new SeekSharpException("--threads: expected one or more thread counts, each 1 or more.");
        string interop = FindInterop();
        string temp = Path.Combine(Path.GetTempPath(), "seek-bench-llama-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(temp);
        try
        {
            string gguf = Path.Combine(temp, "model.gguf");
            progress?.Invoke($"exporting {modelDir} to GGUF ({type})");
            GgufExport.Run(modelDir, gguf, type);
            // Like for like: for a q8_0/q4_0 file SeekSharp runs the same blocks (a `seek quantize` copy, unless the folder
            // is quantized already); otherwise its bf16 matmuls.
            string seekDir = modelDir;
            var stored = Compression.QuantizedFolder.ReadConfig(Path.Combine(modelDir, ModelFiles.ConfigFile));
            string seekType = stored?.Name ?? SeekSharpType(type); // what SeekSharp's side runs, as it is labelled
            if (stored is null && seekType != "bf16")
            {
                progress?.Invoke($"quantizing {modelDir} ({type}) for SeekSharp");
                seekDir = Path.Combine(temp, "quantized");
                Compression.Quantizer.Run(modelDir, Compression.QuantizationConfig.ParseType(type), seekDir);
            }
            using var model = ModelFiles.Load(seekDir);
            var cfg = model.Config;
            if (promptTokens < 1 || promptTokens + tokens > cfg.MaxPositionEmbeddings)
                throw new SeekSharpException($"--prompt-tokens: expected 1 or more with prompt + tokens <= the context ({cfg.MaxPositionEmbeddings}), got {promptTokens} + {tokens}.");
            model.eval();
            model.SetComputeType(ScalarType.BFloat16);
            var rng = new Random(1234);
            var prompt = Enumerable.Range(0, promptTokens).Select(_ => rng.Next(cfg.VocabSize)).ToArray();
            var runs = new List<DecodeRun>();
            using (var engine = new GenerationEngine(model, new EngineOptions { MaxBatchSize = 1 }))
                for (int round = 1; round <= rounds; round++)
                {
                    progress?.Invoke($"round {round}: llama.cpp, threads {string.Join(",", threads)}");
                    foreach (var (t, n, tps) in Llama(interop, gguf, prompt, tokens, threads, cfg.MaxPositionEmbeddings))
                        runs.Add(new DecodeRun(round, "llama.cpp", t, n, tps));
                    progress?.Invoke($"round {round}: SeekSharp");
                    // EngineBenchmark times decode steps only, after its own warm-up (prompts of its own: random ids too).
                    var r = EngineBenchmark.Run(engine, [1], tokens, promptTokens, 1)[0];
                    runs.Add(new DecodeRun(round, "SeekSharp", get_num_threads(), (int)r.Tokens, r.DecodeTokensPerSecond));
                }
            var llama = threads.Distinct().ToDictionary(t => t, t => Median(runs.Where(r => r.Runner == "llama.cpp" && r.Threads == t).Select(r => r.TokensPerSecond)));
            int best = llama.MaxBy(kv => kv.Value).Key;
            double seek = Median(runs.Where(r => r.Runner == "SeekSharp").Select(r => r.TokensPerSecond));
            return new DecodeComparison(runs, llama, best, seek, llama[best] > 0 ? seek / llama[best] : 0, type, seekType);
        }
        finally { try { Directory.Delete(temp, recursive: true); } catch (IOException) { } }
    }

    static double Median(IEnumerable<double> values)
    {
        var v = values.Order().ToArray();
        return v.Length == 0 ? 0 : v.Length % 2 == 1 ? v[v.Length / 2] : (v[v.Length / 2 - 1] + v[v.Length / 2]) / 2;
    }

    /// <summary>One node process: each thread count's (threads, tokens decoded, decode tokens/s).</summary>
    static List<(int Threads, int Tokens, double TokensPerSecond)> Llama(string interop, string gguf, int[] prompt, int tokens,
        IReadOnlyList<int> threads, int context)
    {
        var psi = new ProcessStartInfo("node", Script)
        {
            WorkingDirectory = interop, RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        Process p;
        try { p = Process.Start(psi)!; }
        catch (Win32Exception e) { throw new SeekSharpException($"node: could not be started ({e.Message}); install Node.js 20 or later and put `node` on PATH."); }
        using (p)
        {
            p.StandardInput.Write(JsonSerializer.Serialize(new { model = gguf, prompt, generate = tokens, threads, contextSize = context, warmup = 8 }));
            p.StandardInput.Close();
            var err = p.StandardError.ReadToEndAsync();
            var output = p.StandardOutput.ReadToEnd();
            if (!p.WaitForExit(600_000)) { p.Kill(entireProcessTree: true); throw new SeekSharpException("node-llama-cpp: no answer in 600 s."); }
            var line = output.Trim().Split('\n')[^1];
            if (p.ExitCode != 0 || !line.StartsWith('{'))
                throw new SeekSharpException($"node-llama-cpp: {Script} exited {p.ExitCode}: {err.Result.Trim().Split('\n')[^1]}");
            using var doc = JsonDocument.Parse(line);
            return doc.RootElement.GetProperty("runs").EnumerateArray()
                .Select(r => (r.GetProperty("threads").GetInt32(), r.GetProperty("tokens").GetInt32(), r.GetProperty("tokensPerSecond").GetDouble())).ToList();
        }
    }
}
