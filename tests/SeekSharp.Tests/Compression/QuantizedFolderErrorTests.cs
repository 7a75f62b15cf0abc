using System.Text.Json.Nodes;
using SeekSharp.Checkpoints;
using SeekSharp.Compression;
using SeekSharp.Tests.Cli;

namespace SeekSharp.Tests.Compression;

/// <summary>Bad quantized folders: each refused with one error naming the file and the field or tensor.</summary>
[Collection("Console")]
public class QuantizedFolderErrorTests : TempDirTest
{
    string Quantized(QuantType type)
    {
        var dir = Path.Combine(NewDir(), "q");
        Quantizer.Run(QuantizedModels.Save(NewDir()), type, dir);
        return dir;
    }

    static void EditConfig(string dir, Action<JsonObject> edit)
    {
        var path = Path.Combine(dir, ModelFiles.ConfigFile);
        var obj = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        edit(obj);
        File.WriteAllText(path, obj.ToJsonString());
    }

    static void EditQuant(string dir, string field, JsonNode? value) =>
        EditConfig(dir, o => { if (value is null) o[QuantizationConfig.Key]!.AsObject().Remove(field); else o[QuantizationConfig.Key]![field] = value; });

    /// <summary>Rewrites model.safetensors with <paramref name="edit"/> applied to its tensors (fp8 codes stay F8_E4M3).</summary>
    static void EditWeights(string dir, Action<Dictionary<string, TorchSharp.torch.Tensor>> edit)
    {
        var path = Path.Combine(dir, ModelFiles.WeightsFile);
        var dtypes = Safetensors.ReadHeader(path).Entries.Where(e => e.DType == "F8_E4M3").ToDictionary(e => e.Name, e => e.DType);
        var tensors = Safetensors.Load(path);
        edit(tensors);
        Safetensors.Save(path, tensors, null, dtypes.Where(kv => tensors.ContainsKey(kv.Key)).ToDictionary());
    }

    static void Refused(string dir, string file, params string[] fragments)
    {
        var e = Assert.Throws<SeekSharpException>(() => ModelFiles.Load(dir).Dispose());
        Assert.Contains(Path.Combine(dir, file), e.Message);
        foreach (var f in fragments) Assert.Contains(f, e.Message);
        Assert.DoesNotContain("\n", e.Message);
    }

    const string OProj = "model.layers.0.self_attn.o_proj.weight";

    [Fact]
    public void UnknownOrInconsistentQuantizationConfigsAreRefused()
    {
        var q8 = Quantized(QuantType.Q8_0);
        var cases = new (string Field, JsonNode? Value, string Expect)[]
        {
            ("quant_method", "gptq", "'quantization_config.quant_method'"),
            ("quant_method", null, "'quantization_config.quant_method'"),
            ("format", "q5_k", "'quantization_config.format'"),
            ("group_size", 64, "'quantization_config.group_size'"),
            ("group_size", null, "'quantization_config.group_size'"),
        };
        foreach (var (field, value, expect) in cases)
        {
            var dir = Path.Combine(NewDir(), "case");
            CopyFolder(q8, dir);
            EditQuant(dir, field, value?.DeepClone());
            Refused(dir, ModelFiles.ConfigFile, expect);
        }
        var fp8 = Quantized(QuantType.Fp8);
        var fp8Cases = new (string Field, JsonNode? Value, string Expect)[]
        {
            ("weight_block_size", new JsonArray(64, 64), "'quantization_config.weight_block_size'"),
            ("weight_block_size", new JsonArray(128), "'quantization_config.weight_block_size'"),
            ("weight_block_size", null, "'quantization_config.weight_block_size'"),
            ("fmt", "e5m2", "'quantization_config.fmt'"),
            ("activation_scheme", "static", "'quantization_config.activation_scheme'"),
        };
        foreach (var (field, value, expect) in fp8Cases)
        {
            var dir = Path.Combine(NewDir(), "case");
            CopyFolder(fp8, dir);
            EditQuant(dir, field, value);
            Refused(dir, ModelFiles.ConfigFile, expect);
        }
        // The config says one format, the tensors hold another.
        var wrong = Path.Combine(NewDir(), "case");
        CopyFolder(fp8, wrong);
        EditConfig(wrong, o => o[QuantizationConfig.Key] = new QuantizationConfig(QuantType.Q8_0).ToJson());
        Refused(wrong, ModelFiles.WeightsFile, "F8_E4M3", "q8_0");
        var q4AsQ8 = Path.Combine(NewDir(), "case");
        CopyFolder(Quantized(QuantType.Q4_0), q4AsQ8);
        EditConfig(q4AsQ8, o => o[QuantizationConfig.Key] = new QuantizationConfig(QuantType.Q8_0).ToJson());
        Refused(q4AsQ8, ModelFiles.WeightsFile, "truncated or of another format");
    }

    [Fact]
    public void BadQuantizedTensorsAreRefusedByName()
    {
        var q8 = Quantized(QuantType.Q8_0);
        EditWeights(q8, t => t[OProj] = t[OProj].narrow(1, 0, t[OProj].shape[1] - 1).contiguous());   // a byte short per row
        Refused(q8, ModelFiles.WeightsFile, OProj, "truncated");

        var cut = Quantized(QuantType.Q4_0);                                     // the file itself cut short
        var path = Path.Combine(cut, ModelFiles.WeightsFile);
        File.WriteAllBytes(path, File.ReadAllBytes(path)[..^100]);
        Refused(cut, ModelFiles.WeightsFile);

        var noScale = Quantized(QuantType.Fp8);
        EditWeights(noScale, t => t.Remove(OProj + "_scale_inv"));
        Refused(noScale, ModelFiles.WeightsFile, $"missing tensor '{OProj}_scale_inv'");

        var badScale = Quantized(QuantType.Fp8);
        EditWeights(badScale, t => t[OProj + "_scale_inv"] = TorchSharp.torch.ones(2, 1));
        Refused(badScale, ModelFiles.WeightsFile, $"'{OProj}_scale_inv'", "expected F32 [1, 1]");

        var nanScale = Quantized(QuantType.Fp8);
        EditWeights(nanScale, t => t[OProj + "_scale_inv"] = TorchSharp.torch.full(1, 1, float.NaN));
        Refused(nanScale, ModelFiles.WeightsFile, OProj, "NaN");
    }

    [Fact]
    public void QuantizedTensorsWithoutAQuantizationConfigAreRefused()
    {
        foreach (var type in new[] { QuantType.Fp8, QuantType.Q8_0 })
        {
            var dir = Quantized(type);
            EditConfig(dir, o => o.Remove(QuantizationConfig.Key));
            Refused(dir, ModelFiles.WeightsFile, type == QuantType.Fp8 ? "F8_E4M3" : "U8", "has no 'quantization_config'", ModelFiles.ConfigFile);
        }
        // Through the CLI: one error line, exit 1.
        var f8 = Quantized(QuantType.Fp8);
        EditConfig(f8, o => o.Remove(QuantizationConfig.Key));
        var (code, output) = CliTests.Run("generate", "--model", f8, "--prompt", "hi", "--max-tokens", "2");
        Assert.Equal(1, code);
        Assert.StartsWith("error:", output.Trim());
        Assert.Single(output.Trim().Split('\n'));
        Assert.Contains("quantization_config", output);
    }

    static void CopyFolder(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var f in Directory.GetFiles(from)) File.Copy(f, Path.Combine(to, Path.GetFileName(f)));
    }
}
