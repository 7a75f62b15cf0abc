using System.Diagnostics;
using System.Text.Json.Nodes;
using SeekSharp.Checkpoints;
using SeekSharp.Tests.Alignment;
using SeekSharp.Tokenization;
using Xunit.Abstractions;
using static SeekSharp.Tests.Checkpoints.HostileFolder;

namespace SeekSharp.Tests.Checkpoints;

/// <summary>
/// Finding 9 of issue 14: a hostile model folder must end in one <see cref="SeekSharpException"/> naming the file
/// and the field or tensor, before anything large is allocated, and never in a native error, a hang or a stack trace.
/// One good folder (tiny MLA + MoE) is built once; every case is a corrupted copy of it, loaded the way
/// `seek generate` loads a folder (tokenizer, then config and weights).
/// </summary>
public class HostileModelFolderTests(ChatModelFolder good, ITestOutputHelper output) : IClassFixture<ChatModelFolder>
{
    static void LoadFolder(string dir)
    {
        BpeTokenizer.Load(dir);
        using var model = ModelFiles.Load(dir);
    }

    IEnumerable<HostileCase> AllCases()
    {
        var saved = (JsonObject)JsonNode.Parse(File.ReadAllText(Path.Combine(good.ModelDir, Config)))!;
        return HostileModelFolderCases.ConfigCases(saved).Concat(HostileModelFolderCases.WeightsCases())
            .Concat(HostileModelFolderCases.TokenizerCases()).Concat(HostileModelFolderCases.FileKindCases());
    }

    [Fact]
    public void EveryHostileFolderIsRefusedWithOneErrorNamingTheFileAndField()
    {
        var failures = new List<string>();
        int refused = 0, loaded = 0;
        var memoryBefore = Process.GetCurrentProcess().PeakWorkingSet64;
        foreach (var c in AllCases())
        {
            var dir = good.NewDir();
            CopyFolder(good.ModelDir, dir);
            c.Corrupt(dir);
            var file = Path.Combine(dir, c.File);
            try
            {
                LoadFolder(dir);
                loaded++;
                if (!c.Loads) failures.Add($"{c.Name}: loaded, expected a refusal");
            }
            catch (SeekSharpException e)
            {
                refused++;
                var m = e.Message;
                if (c.Loads) failures.Add($"{c.Name}: refused, expected to load: {m}");
                else if (!m.Contains(file) && !(c.OrFile is { } alt && m.Contains(Path.Combine(dir, alt)))) failures.Add($"{c.Name}: message does not name {c.File}: {m}");
                else if (c.Expect.FirstOrDefault(x => !m.Contains(x)) is { } missing) failures.Add($"{c.Name}: message lacks '{missing}': {m}");
                else if (c.AnyOf is { } any && !any.Any(m.Contains)) failures.Add($"{c.Name}: message names none of {string.Join(", ", any)}: {m}");
                else if (m.Contains('\n')) failures.Add($"{c.Name}: message is not one line: {m}");
            }
            catch (Exception e)
            {
                failures.Add($"{c.Name}: {e.GetType().Name}: {e.Message}");
            }
            finally
            {
                try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
            }
        }
        output.WriteLine($"{refused + loaded} cases: {refused} refused, {loaded} loaded (valid variants)");
        Assert.True(failures.Count == 0, $"{failures.Count} of {refused + loaded} cases failed:\n{string.Join("\n", failures)}");
        Assert.True(refused + loaded >= 690, $"only {refused + loaded} cases");
        // Loose: no case may allocate what its config claims (10^9 rows is 4 TB); the good folder is a few MB.
        Assert.True(Process.GetCurrentProcess().PeakWorkingSet64 - memoryBefore < 2L << 30, "a case allocated gigabytes");
    }

    // Validate alone (no weights): values that once crashed or allocated without bound, and the two that were accepted.
    public static TheoryData<string, string> BadFields => new()
    {
        { "vocab_size", "1000000000" }, { "hidden_size", "1000000000" }, { "kv_lora_rank", "1000000000" }, { "q_lora_rank", "-1" },
        { "num_hidden_layers", "1000000" }, { "max_position_embeddings", "2000000000" }, { "n_routed_experts", "2000000000" },
        { "num_experts_per_tok", "-2" }, { "n_shared_experts", "1000000" }, { "moe_intermediate_size", "1000000000" },
        { "intermediate_size", "1000000000" }, { "qk_rope_head_dim", "1000000" }, { "v_head_dim", "-8" },
        { "moe_layer_freq", "0" }, { "moe_layer_freq", "-1" }, { "routed_scaling_factor", "0" }, { "routed_scaling_factor", "-2.5" },
        { "rms_norm_eps", "-1e-6" }, { "rms_norm_eps", "0" }, { "rms_norm_eps", "5" }, { "rope_theta", "0" }, { "rope_theta", "1e309" },
        { "aux_loss_alpha", "-1" }, { "initializer_range", "-0.02" }, { "first_k_dense_replace", "-1" }, { "topk_group", "4" },
    };

    [Theory]
    [MemberData(nameof(BadFields))]
    public void ConfigValidationNamesTheFieldBeforeAnythingIsBuilt(string field, string value)
    {
        var dir = good.NewDir();
        CopyFolder(good.ModelDir, dir);
        SetJson(Config, field, value)(dir);
        var path = Path.Combine(dir, Config);
        var e = Assert.Throws<SeekSharpException>(() => SeekSharp.Modeling.ModelConfig.Load(path));
        Assert.Contains(path, e.Message);
        Assert.Contains(field, e.Message);
    }

    [Fact]
    public void EveryPresetIsWithinTheBounds()
    {
        foreach (var name in SeekSharp.Modeling.Presets.Names) SeekSharp.Modeling.Presets.Get(name).Validate(name);
    }

    [Fact]
    public void CopyingTheTokenizerFilesRefusesAFifo()
    {
        // Stages copy tokenizer_config.json into their run folder; a FIFO there once blocked the copy for good.
        var dir = good.NewDir();
        CopyFolder(good.ModelDir, dir);
        Replace("tokenizer_config.json", "fifo")(dir);
        var e = Assert.Throws<SeekSharpException>(() => BpeTokenizer.CopyFiles(dir, good.NewDir()));
        Assert.Contains(Path.Combine(dir, "tokenizer_config.json"), e.Message);
        Assert.Contains("FIFO", e.Message);
    }
}
