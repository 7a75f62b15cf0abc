using System.Text.Json.Nodes;
using SeekSharp.Tokenization;

namespace SeekSharp.Tests.Tokenization;

/// <summary>Each kind of broken tokenizer.json is refused with a message naming the file and the problem.</summary>
public class TokenizerLoadTests : TempDirTest
{
    private string SavedJson()
    {
        var dir = NewDir();
        TokenizerFixture.Tokenizer.Save(dir);
        return File.ReadAllText(Path.Combine(dir, "tokenizer.json"));
    }

    private SeekSharpException LoadFails(string content, string expected)
    {
        var file = Path.Combine(NewDir(), "tokenizer.json");
        File.WriteAllText(file, content);
        var e = Assert.Throws<SeekSharpException>(() => BpeTokenizer.Load(file));
        Assert.Contains(file, e.Message);
        Assert.Contains(expected, e.Message);
        return e;
    }

    private string Edit(Action<JsonObject> edit)
    {
        var node = JsonNode.Parse(SavedJson())!.AsObject();
        edit(node);
        return node.ToJsonString();
    }

    [Fact]
    public void MissingFile()
    {
        var dir = NewDir();
        var e = Assert.Throws<SeekSharpException>(() => BpeTokenizer.Load(dir));
        Assert.Contains(Path.Combine(dir, "tokenizer.json"), e.Message);
    }

    [Fact]
    public void MalformedJson() => LoadFails("{\"model\": {", "not valid JSON");

    [Fact]
    public void MissingModel() => LoadFails(Edit(o => o.Remove("model")), "\"model\"");

    [Fact]
    public void MissingVocab() => LoadFails(Edit(o => o["model"]!.AsObject().Remove("vocab")), "model.vocab");

    [Fact]
    public void MissingMerges() => LoadFails(Edit(o => o["model"]!.AsObject().Remove("merges")), "model.merges");

    [Fact]
    public void MergePartNotInVocab() =>
        LoadFails(Edit(o => o["model"]!["merges"]!.AsArray().Add("zzzqqq Ġx")), "not in the vocab");

    [Fact]
    public void MalformedMerge() =>
        LoadFails(Edit(o => o["model"]!["merges"]!.AsArray().Add("nospace")), "merge");

    [Fact]
    public void NonByteLevelVocabToken() =>
        LoadFails(Edit(o =>
        {
            var vocab = o["model"]!["vocab"]!.AsObject();
            var last = vocab.Last(kv => kv.Key.StartsWith('Ġ'));
            vocab.Remove(last.Key);
            vocab["日本"] = (int)last.Value!;
            o["model"]!["merges"] = new System.Text.Json.Nodes.JsonArray();
        }), "not byte-level");

    [Fact]
    public void DuplicateIds() =>
        LoadFails(Edit(o => o["model"]!["vocab"]!["Ġ"] = 0), "id");

    [Fact]
    public void MissingSpecialToken() =>
        LoadFails(Edit(o =>
        {
            var added = o["added_tokens"]!.AsArray();
            var think = added.First(t => (string?)t!["content"] == SpecialTokens.ThinkStart)!;
            added.Remove(think);
            o["model"]!["vocab"]!.AsObject().Remove(SpecialTokens.ThinkStart);
            // Keep ids dense so the special-token check is the one that fires.
            var last = added.Last()!;
            var lastId = (int)last["id"]!;
            var thinkId = (int)think["id"]!;
            last["id"] = thinkId;
            o["model"]!["vocab"]![(string)last["content"]!] = thinkId;
            Assert.True(lastId > thinkId);
        }), SpecialTokens.ThinkStart);

    [Fact]
    public void AcceptsPairFormMerges()
    {
        var json = Edit(o =>
        {
            var merges = o["model"]!["merges"]!.AsArray();
            var pairs = new JsonArray(merges.Select(m => (JsonNode)new JsonArray(((string)m!).Split(' ').Select(p => (JsonNode)p!).ToArray())).ToArray());
            o["model"]!["merges"] = pairs;
        });
        var file = Path.Combine(NewDir(), "tokenizer.json");
        File.WriteAllText(file, json);
        Assert.Equal(TokenizerFixture.Tokenizer.Hash, BpeTokenizer.Load(file).Hash);
    }
}
