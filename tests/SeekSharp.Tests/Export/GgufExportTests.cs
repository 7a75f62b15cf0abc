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
        { """{"attention_type": "mha", "qk_rope_head_dim": 16, "v_head_dim": 16, "n_shared_experts": 0}""", "glm4moe" },
        { """{"attention_type": "mha", "qk_rope_head_dim": 16, "v_head_dim": 16, "moe_layer_freq": 2, "model_type": "x"}""", "'moe_layer_freq'" },
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
    public void EveryPresetIsRepresentableInItsArchitecture()
    {
        foreach (var name in Presets.Names) GgufExport.CheckRepresentable(Presets.Get(name), name);
        Assert.Equal(["deepseek2", "llama", "glm4moe", "glm4moe", "deepseek2", "llama", "deepseek2"], Presets.Names.Select(n => GgufExport.ArchitectureOf(Presets.Get(n))));
    }

    /// <summary>The storage rule of --type q8_0 / q4_0: matrices blocked when their rows (last dimension) are whole 32-value
    /// blocks, otherwise F16; the embedding Q8_0 in both; 1-D tensors and the router F32.</summary>
    [Theory]
    [InlineData("q8_0", new long[] { 64, 128 }, true, false, GgufWriter.TensorType.Q8_0)]
    [InlineData("q4_0", new long[] { 64, 128 }, true, false, GgufWriter.TensorType.Q4_0)]
    [InlineData("q4_0", new long[] { 8, 64, 128 }, true, false, GgufWriter.TensorType.Q4_0)]
    [InlineData("q4_0", new long[] { 4, 32, 16 }, true, false, GgufWriter.TensorType.F16)]
    [InlineData("q8_0", new long[] { 64, 48 }, true, false, GgufWriter.TensorType.F16)]
    [InlineData("q4_0", new long[] { 1030, 128 }, true, true, GgufWriter.TensorType.Q8_0)]
    [InlineData("q8_0", new long[] { 1030, 128 }, true, true, GgufWriter.TensorType.Q8_0)]
    [InlineData("q8_0", new long[] { 8, 128 }, false, false, GgufWriter.TensorType.F32)]
    [InlineData("q4_0", new long[] { 128 }, true, false, GgufWriter.TensorType.F32)]
    [InlineData("f16", new long[] { 64, 48 }, true, true, GgufWriter.TensorType.F16)]
    public void QuantizedTypesFollowTheDocumentedRule(string type, long[] shape, bool matrix, bool embedding, GgufWriter.TensorType expected)
    {
        using var model = new Transformer(Presets.Get("tiny"), seed: 1);
        var matrixType = type switch { "q8_0" => GgufWriter.TensorType.Q8_0, "q4_0" => GgufWriter.TensorType.Q4_0, _ => GgufWriter.TensorType.F16 };
        Assert.Equal(expected, new GgufTensors(new GgufWriter(), model, matrixType).TypeOf(shape, matrix, embedding));
    }

    /// <summary>The container itself, byte by byte: header, typed metadata, tensor infos with dims innermost first,
    /// offsets and the data section on 32-byte boundaries, each tensor's bytes where its offset says.</summary>
    [Fact]
    public void WriterLaysOutGgufVersion3()
    {
        var w = new GgufWriter();
        w.AddString("general.architecture", "deepseek2");
        w.AddUInt32("n", 7);
        w.AddInt32s("ids", [1, -2]);
        w.AddTensor("a", [2, 3], GgufWriter.TensorType.F32, GgufWriter.F32Bytes([1, 2, 3, 4, 5, 6]));
        w.AddTensor("b", [5], GgufWriter.TensorType.F16, GgufWriter.F16Bytes([1, 0.5f, -2, 65504, 1e-8f]));
        var path = Path.Combine(NewDir(), "t.gguf");
        w.Write(path);

        using var r = new BinaryReader(File.OpenRead(path));
        string Str() => System.Text.Encoding.UTF8.GetString(r.ReadBytes((int)r.ReadUInt64()));
        Assert.Equal("GGUF"u8.ToArray(), r.ReadBytes(4));
        Assert.Equal(3u, r.ReadUInt32());
        Assert.Equal(2ul, r.ReadUInt64());
        Assert.Equal(3ul, r.ReadUInt64());
        Assert.Equal(("general.architecture", 8u, "deepseek2"), (Str(), r.ReadUInt32(), Str()));
        Assert.Equal(("n", 4u, 7u), (Str(), r.ReadUInt32(), r.ReadUInt32()));
        Assert.Equal(("ids", 9u, 5u, 2ul, 1, -2), (Str(), r.ReadUInt32(), r.ReadUInt32(), r.ReadUInt64(), r.ReadInt32(), r.ReadInt32()));
        Assert.Equal(("a", 2u, 3ul, 2ul, 0u, 0ul), (Str(), r.ReadUInt32(), r.ReadUInt64(), r.ReadUInt64(), r.ReadUInt32(), r.ReadUInt64()));
        Assert.Equal(("b", 1u, 5ul, 1u, 32ul), (Str(), r.ReadUInt32(), r.ReadUInt64(), r.ReadUInt32(), r.ReadUInt64()));
        long data = (r.BaseStream.Position + 31) / 32 * 32;
        Assert.All(r.ReadBytes((int)(data - r.BaseStream.Position)), b => Assert.Equal(0, b));
        Assert.Equal([1f, 2, 3, 4, 5, 6], Enumerable.Range(0, 6).Select(_ => r.ReadSingle()));
        r.BaseStream.Position = data + 32;
        Assert.Equal([(Half)1, (Half)0.5f, (Half)(-2), (Half)65504, (Half)1e-8f], Enumerable.Range(0, 5).Select(_ => r.ReadHalf()));
        Assert.Equal(data + 64, r.BaseStream.Length); // the last tensor is padded too
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
