using SeekSharp.Tests.Alignment;
using SeekSharp.Tests.Cli;
using static SeekSharp.Tests.Checkpoints.HostileFolder;

namespace SeekSharp.Tests.Checkpoints;

/// <summary>A few hostile folders through the real `seek generate` process: exit 1, one error line, no stack trace,
/// and no hang (a FIFO or a link to /dev/zero once blocked or ran out of memory).</summary>
public class HostileModelFolderCliTests(ChatModelFolder good) : IClassFixture<ChatModelFolder>
{
    public static TheoryData<string> Cases => new()
    {
        "vocab_size 10^9", "kv_lora_rank 10^9", "rms_norm_eps negative", "moe_layer_freq 0", "NaN weight", "config is a FIFO",
        "config links to /dev/zero", "weights dangling link", "data_offsets strings", "tokenizer id a string", "tokenizer of a larger vocabulary",
    };

    static Action<string> Corruption(string name) => name switch
    {
        "vocab_size 10^9" => SetJson(Config, "vocab_size", "1000000000"),
        "kv_lora_rank 10^9" => SetJson(Config, "kv_lora_rank", "1000000000"),
        "rms_norm_eps negative" => SetJson(Config, "rms_norm_eps", "-1e-6"),
        "moe_layer_freq 0" => SetJson(Config, "moe_layer_freq", "0"),
        "NaN weight" => PokeFloat("model.embed_tokens.weight", 3, float.NaN),
        "config is a FIFO" => Replace(Config, "fifo"),
        "config links to /dev/zero" => Replace(Config, "symlink to /dev/zero"),
        "weights dangling link" => Replace(Weights, "dangling symlink"),
        "data_offsets strings" => EditHeader(h => h["model.norm.weight"]!["data_offsets"] = new System.Text.Json.Nodes.JsonArray("0", "4")),
        "tokenizer id a string" => EditJson(Tokenizer, o => o["model"]!["vocab"]!["a"] = "x"),
        // One more (byte-level) token than the model's embedding has rows: ids past it would fail inside libtorch.
        "tokenizer of a larger vocabulary" => EditJson(Tokenizer, o => o["model"]!["vocab"]!["\u0120\u0120\u0120\u0120\u0120\u0120\u0120\u0120\u0120\u0120"] =
            ((System.Text.Json.Nodes.JsonObject)o["model"]!["vocab"]!).Count + ((System.Text.Json.Nodes.JsonArray)o["added_tokens"]!).Count),
        _ => throw new ArgumentException(name),
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void SeekGenerateOnAHostileFolderPrintsOneErrorAndExitsOne(string name)
    {
        var dir = good.NewDir();
        CopyFolder(good.ModelDir, dir);
        Corruption(name)(dir);
        var (code, stdout, stderr) = SeekProcess.Run(120, "generate", "--model", dir, "--prompt", "hi", "--max-tokens", "2");
        var output = stdout + stderr;
        Assert.True(code == 1, $"{name}: exit {code}: {output}");
        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var line = Assert.Single(lines);
        Assert.StartsWith("error: ", line);
        Assert.DoesNotContain("error:", stdout);
        Assert.DoesNotContain("   at ", output);
        Assert.DoesNotContain("Unhandled", output);
        var joined = line;
        Assert.True(new[] { Config, Weights, Tokenizer }.Any(joined.Contains), $"{name}: no file named: {output}");
        Assert.Contains(dir, joined);
    }
}
