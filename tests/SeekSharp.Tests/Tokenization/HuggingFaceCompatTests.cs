using System.Text.Json;
using System.Text.RegularExpressions;
using Ml = Microsoft.ML.Tokenizers;
using SeekSharp.Tokenization;

namespace SeekSharp.Tests.Tokenization;

/// <summary>
/// Feeds the vocab and merges from our saved tokenizer.json to Microsoft.ML.Tokenizers' byte-level
/// BPE (an implementation we did not write) and checks it produces our ids: evidence that the file
/// means to other tools what it means to us.
/// </summary>
public class HuggingFaceCompatTests : TempDirTest
{
    [Fact]
    public void MicrosoftMlTokenizersGivesTheSameIds()
    {
        var ours = TokenizerFixture.Tokenizer;
        var dir = NewDir();
        ours.Save(dir);
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(dir, "tokenizer.json")));
        var model = doc.RootElement.GetProperty("model");
        var specials = doc.RootElement.GetProperty("added_tokens").EnumerateArray()
            .ToDictionary(t => t.GetProperty("content").GetString()!, t => t.GetProperty("id").GetInt32());
        var vocab = model.GetProperty("vocab").EnumerateObject()
            .Where(p => !specials.ContainsKey(p.Name))
            .Select(p => new KeyValuePair<string, int>(p.Name, p.Value.GetInt32()));
        var pattern = doc.RootElement.GetProperty("pre_tokenizer").GetProperty("pretokenizers")[0]
            .GetProperty("pattern").GetProperty("Regex").GetString()!;

        var theirs = Ml.BpeTokenizer.Create(new Ml.BpeOptions(vocab)
        {
            Merges = model.GetProperty("merges").EnumerateArray().Select(m => m.GetString()!).ToList(),
            ByteLevel = true,
            PreTokenizer = new Ml.RegexPreTokenizer(new Regex(pattern), null),
        });

        var texts = TokenizerFixture.Corpus().Take(10).ToList();
        texts.Add("Hello, world! It's 2024 and 12345678 things cost $3.50.\n\n  indented\ttabs  ");
        texts.Add("naïve café — über 日本語 😀👍🏽 e\u0301");
        // Long pieces that take many merge passes (mail separators, repeated syllables, one long word).
        texts.Add(new string('=', 301) + " " + new string('-', 77) + "\n" + string.Concat(Enumerable.Repeat("'", 150)));
        texts.Add(" " + string.Concat(Enumerable.Repeat("thetion", 40)) + " " + string.Concat(Enumerable.Repeat("ab", 99)) + "a");
        texts.AddRange(TokenizerFixture.Corpus().Skip(10).Take(5).Select(t => t.Replace(" ", "")));
        foreach (var text in texts)
            Assert.Equal(ours.Encode(text), theirs.EncodeToIds(text));
        // Not vacuous: the merges did real work on the corpus text.
        Assert.True(ours.Encode(texts[0]).Length * 2 < System.Text.Encoding.UTF8.GetByteCount(texts[0]));
    }
}
