using SeekSharp.Alignment;
using SeekSharp.Data.Synthetic;
using SeekSharp.Reasoning;
using SeekSharp.Tests.Tokenization;
using SeekSharp.Tokenization;

namespace SeekSharp.Tests.Alignment;

public class ChatDataTests : TempDirTest
{
    [Fact]
    public void ReadsMessagesAndSyntheticRecordsInOneFile()
    {
        var dir = NewDir();
        var synth = Path.Combine(dir, "synth.jsonl");
        SyntheticData.Write("arithmetic", 2, seed: 1, synth);
        var path = Path.Combine(dir, "mixed.jsonl");
        File.WriteAllText(path, """{"messages":[{"role":"system","content":"s"},{"role":"user","content":"u"},{"role":"assistant","content":"a"}]}""" + "\n\n"
            + File.ReadAllText(synth));

        var examples = ChatData.Read(path);
        Assert.Equal(3, examples.Count);
        Assert.Equal(["system", "user", "assistant"], examples[0].Messages.Select(m => m.Role));
        Assert.Equal($"{path}:1", examples[0].Source);
        Assert.Equal($"{path}:3", examples[1].Source);

        var problem = SyntheticData.Read(synth)[0].Problem;
        Assert.Equal(R1Format.Chat(problem), examples[1].Messages);
        Assert.Equal([new ChatMessage("user", problem.Prompt)], R1Format.Prompt(problem));
        Assert.Equal($"<think>{problem.Solution}</think><answer>{problem.Answer}</answer>", examples[1].Messages[1].Content);
    }

    [Theory]
    [InlineData("""{"messages":[{"role":"user","content":"hi"},{"role":"tool","content":"x"}]}""", "messages[1].role")]
    [InlineData("""{"messages":[{"role":"user","content":"hi"},{"role":"assistant"}]}""", "messages[1].content")]
    [InlineData("""{"messages":[{"role":"user","content":"hi"}]}""", "no assistant message")]
    [InlineData("""{"messages":"hi"}""", "\"messages\" must be")]
    [InlineData("""{"prompt":"1+1","solution":"2","checker":"arithmetic","task":"arithmetic","id":"a"}""", "'answer'")]
    [InlineData("""{"text":"plain"}""", "expected a \"messages\" array")]
    [InlineData("""{"messages":[""", "malformed JSON")]
    [InlineData("""[1,2]""", "expected a JSON object")]
    public void MalformedLinesAreNamedByFileAndLine(string bad, string expected)
    {
        var path = Path.Combine(NewDir(), "bad.jsonl");
        File.WriteAllLines(path, ["""{"messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b"}]}""", "", bad]);
        var e = Assert.Throws<SeekSharpException>(() => ChatData.Read(path));
        Assert.StartsWith($"{path}:3: ", e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void MissingAndEmptyFilesAreErrors()
    {
        var dir = NewDir();
        Assert.Contains("not found", Assert.Throws<SeekSharpException>(() => ChatData.Read(Path.Combine(dir, "none.jsonl"))).Message);
        var empty = Path.Combine(dir, "empty.jsonl");
        File.WriteAllText(empty, "\n");
        Assert.Contains("empty", Assert.Throws<SeekSharpException>(() => ChatData.Read(empty)).Message);
    }

    [Fact]
    public void LongConversationsAreLeftOutNotCut()
    {
        var tok = TokenizerFixture.Tokenizer;
        var examples = new[]
        {
            new ChatExample([new("user", "hi"), new("assistant", "short")], "a"),
            new ChatExample([new("user", "hi"), new("assistant", string.Join(" ", Enumerable.Repeat("long", 200)))], "b"),
        };
        var (kept, tooLong) = ChatData.Encode(tok, examples, 64);
        Assert.Single(kept);
        Assert.Equal(1, tooLong);
        Assert.Equal(ChatTemplate.EncodeChat(tok, examples[0].Messages).Ids, kept[0].Ids);
    }
}
