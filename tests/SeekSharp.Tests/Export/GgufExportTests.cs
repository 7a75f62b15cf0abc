using SeekSharp.Export;
using SeekSharp.Modeling;
using SeekSharp.Tests.Cli;
using static TorchSharp.torch;

namespace SeekSharp.Tests.Export;

// What needs no llama.cpp: refusals of configs deepseek2 cannot load, and the rotary row permutation.

[Collection("Console")] // CliTests.Run redirects Console.Out
public sealed class GgufExportTests : TempDirTest
{
    /// <summary>Configs llama.cpp's deepseek2 cannot load (or would load as another model), and the field each error names.</summary>
    public static TheoryData<string, string> Unrepresentable => new()
    {
        { """{"attention_type": "mha", "qk_rope_head_dim": 16, "v_head_dim": 16}""", "'attention_type'" },
        { """{"n_shared_experts": 0}""", "'n_shared_experts'" },
        { """{"moe_layer_freq": 2}""", "'moe_layer_freq'" },
        { """{"num_hidden_layers": 27}""", "'q_lora_rank'" },
        { """{"num_hidden_layers": 26}""", "'q_lora_rank'" },
    };

    [Theory, MemberData(nameof(Unrepresentable))]
    public void RefusesWhatDeepseek2CannotLoadWithOneLineAndLeavesTheOutputAlone(string change, string field)
    {
        var dir = NewDir();
        Directory.CreateDirectory(dir);
        var cfg = System.Text.Json.Nodes.JsonNode.Parse(Presets.Get("tiny").ToJson())!.AsObject();
        foreach (var (k, v) in System.Text.Json.Nodes.JsonNode.Parse(change)!.AsObject()) cfg[k] = v?.DeepClone();
        if (cfg["attention_type"]!.GetValue<string>() == "mha") { cfg["q_lora_rank"] = 0; cfg["kv_lora_rank"] = 0; cfg["qk_nope_head_dim"] = 0; }
        File.WriteAllText(Path.Combine(dir, "config.json"), cfg.ToJsonString());
        var output = Path.Combine(dir, "old.gguf");
        File.WriteAllText(output, "previous file");

        var (code, text) = CliTests.Run("export", "gguf", "--model", dir, "--out", output);

        Assert.Equal(1, code);
        var line = Assert.Single(text.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("error:", line);
        Assert.Contains(field, line);
        Assert.Contains("config.json", line);
        Assert.Equal("previous file", File.ReadAllText(output));
        Assert.Single(Directory.GetFiles(dir, "old.gguf*")); // no temporary file left beside it
    }

    [Fact]
    public void UnknownTypeIsOneErrorLineNamingTheFlag()
    {
        var (code, text) = CliTests.Run("export", "gguf", "--model", NewDir(), "--out", Path.Combine(NewDir(), "x.gguf"), "--type", "q5_k");
        Assert.Equal(1, code);
        Assert.StartsWith("error: --type", text.Trim());
    }

    [Fact]
    public void EveryMlaPresetIsRepresentableAndTheMhaOnesAreRefused()
    {
        foreach (var name in Presets.Names)
        {
            var cfg = Presets.Get(name);
            if (cfg.IsMla) GgufExport.CheckRepresentable(cfg, name);
            else Assert.Contains("not yet: export as llama/glm4moe is planned", Assert.Throws<SeekSharpException>(() => GgufExport.CheckRepresentable(cfg, name)).Message);
        }
    }

    /// <summary>Our rotate-half rotation, with its rows reordered by the exporter's permutation, equals llama.cpp's
    /// adjacent-pair (NORM) rotation of the reordered input: what makes the permuted projections exact.</summary>
    [Fact]
    public void RopeRowOrderTurnsRotateHalfIntoAdjacentPairs()
    {
        const int dim = 16, positions = 9;
        using var rope = new Rotary(dim, positions, 10000);
        using var x = randn(1, 1, positions, dim, generator: new Generator(3));
        using var order = GgufExport.RopeRowOrder(1, dim, 0, dim);
        using var ours = rope.Apply(x, 0).index_select(-1, order);

        // llama.cpp's NORM rope: dims (2i, 2i+1) rotate by pos * theta^(-2i/d).
        var xp = x.index_select(-1, order).data<float>().ToArray();
        var theirs = new float[xp.Length];
        for (int p = 0; p < positions; p++)
            for (int i = 0; i < dim / 2; i++)
            {
                double angle = p * Math.Pow(10000, -2.0 * i / dim);
                float a = xp[p * dim + 2 * i], b = xp[p * dim + 2 * i + 1];
                theirs[p * dim + 2 * i] = (float)(a * Math.Cos(angle) - b * Math.Sin(angle));
                theirs[p * dim + 2 * i + 1] = (float)(a * Math.Sin(angle) + b * Math.Cos(angle));
            }
        var mine = ours.data<float>().ToArray();
        for (int k = 0; k < mine.Length; k++) Assert.True(Math.Abs(mine[k] - theirs[k]) < 1e-5, $"element {k}: {mine[k]} vs {theirs[k]}");

        // The permutation only moves the rope rows of each block: (nope rows, x0 y0 x1 y1 ...) per head.
        using var two = GgufExport.RopeRowOrder(2, 6, 2, 4);
        Assert.Equal([0L, 1, 2, 4, 3, 5, 6, 7, 8, 10, 9, 11], two.data<long>().ToArray());
    }
}
