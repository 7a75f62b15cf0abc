using System.Text;
using SeekSharp.Tokenization;

namespace SeekSharp.Tests.Tokenization;

public class BpeTokenizerTests : TempDirTest
{
    private static BpeTokenizer Tok => TokenizerFixture.Tokenizer;

    private static string RandomText(Random rng)
    {
        var sb = new StringBuilder();
        var pieces = rng.Next(1, 25);
        for (var p = 0; p < pieces; p++)
        {
            switch (rng.Next(9))
            {
                case 0: sb.Append((char)rng.Next(0x20, 0x7F)); break;
                case 1: sb.Append((char)rng.Next(0xA0, 0x100)); break;
                case 2: sb.Append((char)rng.Next(0x4E00, 0xA000)); break;
                case 3: sb.Append(char.ConvertFromUtf32(rng.Next(0x1F300, 0x1FAFF))); break;
                case 4: sb.Append('a').Append((char)rng.Next(0x300, 0x370)); break;
                case 5: sb.Append(new string(" \t\n\r\u00A0\u3000"[rng.Next(6)], rng.Next(1, 6))); break;
                case 6: sb.Append(rng.NextInt64(0, long.MaxValue)); break;
                case 7: sb.Append(" the").Append((char)rng.Next(0x61, 0x7B)); break;
                default: sb.Append((char)rng.Next(0, 0x20)); break;
            }
        }
        return sb.ToString();
    }

    [Fact]
    public void RoundTripsRandomUnicode()
    {
        var rng = new Random(42);
        for (var i = 0; i < 500; i++)
        {
            var text = RandomText(rng);
            var ids = Tok.Encode(text);
            Assert.All(ids, id => Assert.False(Tok.IsSpecial(id)));
            Assert.Equal(text, Tok.Decode(ids));
            Assert.Equal(Encoding.UTF8.GetBytes(text), Tok.DecodeBytes(ids));
        }
    }

    [Fact]
    public void SpecialTextIsPlainTextUnlessAllowed()
    {
        var rng = new Random(7);
        for (var i = 0; i < 200; i++)
        {
            var text = RandomText(rng) + SpecialTokens.All[i % SpecialTokens.All.Count] + RandomText(rng) + "<|eos|" + "<think";
            var ids = Tok.Encode(text);
            Assert.All(ids, id => Assert.False(Tok.IsSpecial(id)));
            Assert.Equal(text, Tok.Decode(ids));
            Assert.Equal(text, Tok.Decode(Tok.Encode(text, allowSpecial: true)));
        }
    }

    [Fact]
    public void SpecialTokensAreSingleIdsAtTheEndOfTheVocab()
    {
        Assert.Equal(TokenizerFixture.VocabSize, Tok.VocabSize);
        for (var i = 0; i < SpecialTokens.All.Count; i++)
        {
            var s = SpecialTokens.All[i];
            var id = Tok.TokenToId(s);
            Assert.Equal(Tok.VocabSize - SpecialTokens.All.Count + i, id);
            Assert.Equal([id], Tok.Encode(s, allowSpecial: true));
            Assert.True(Tok.TryGetSpecial(s, out var same) && same == id);
        }
        Assert.Equal(Tok.TokenToId(SpecialTokens.Bos), Tok.BosId);
        Assert.Equal(Tok.TokenToId(SpecialTokens.Eos), Tok.EosId);
        Assert.Equal(Tok.TokenToId(SpecialTokens.Pad), Tok.PadId);
        Assert.False(Tok.TryGetSpecial("<|nope|>", out _));
        Assert.Throws<SeekSharpException>(() => Tok.TokenToId("<|nope|>"));

        var ids = Tok.Encode("<think>the con</think><answer>42</answer>", allowSpecial: true);
        Assert.Equal(Tok.TokenToId(SpecialTokens.ThinkStart), ids[0]);
        Assert.Equal(Tok.TokenToId(SpecialTokens.AnswerEnd), ids[^1]);
        Assert.Equal("the con42", Tok.Decode(ids, skipSpecial: true));
    }

    [Fact]
    public void PartialUtf8DecodesToReplacementCharButBytesAreRaw()
    {
        var ids = Tok.Encode("日");
        var bytes = Tok.DecodeBytes(ids);
        Assert.Equal(new byte[] { 0xE6, 0x97, 0xA5 }, bytes);
        // Byte tokens keep ids 0..255 in a trained tokenizer, so a cut-off character is easy to build.
        Assert.Equal("\uFFFD", Tok.Decode(new[] { 0xE6, 0x97 }));
        Assert.Throws<SeekSharpException>(() => Tok.Decode(new[] { Tok.VocabSize }));
    }

    [Fact]
    public void EncodeBatchMatchesEncode()
    {
        var docs = TokenizerFixture.Corpus().Take(8).ToList();
        var batch = Tok.EncodeBatch(docs);
        for (var i = 0; i < docs.Count; i++) Assert.Equal(Tok.Encode(docs[i]), batch[i]);
    }

    [Fact]
    public void CachesGiveTheSameIdsOnEveryThreadAndAfterEviction()
    {
        var dir = NewDir();
        Tok.Save(dir);
        var docs = TokenizerFixture.Corpus().Take(12).ToList();
        var fresh = BpeTokenizer.Load(dir);
        var reference = docs.Select(d => fresh.Encode(d)).ToList();
        var tok = BpeTokenizer.Load(dir);
        // More distinct pieces than a thread's cache holds, so it is emptied on the way.
        var junk = string.Concat(Enumerable.Range(0, 70_000).Select(i => $" q{i}x"));
        Parallel.For(0, 4 * docs.Count, new ParallelOptions { MaxDegreeOfParallelism = 4 }, i =>
        {
            var d = docs.Count - 1 - i % docs.Count;
            Assert.Equal(reference[d], tok.Encode(docs[d]));
            if (i == 5) tok.Encode(junk);
        });
        for (var d = 0; d < docs.Count; d++) Assert.Equal(reference[d], tok.Encode(docs[d]));
    }

    [Fact]
    public void SaveLoadRoundTripsEncodingsAndHash()
    {
        var dir = NewDir();
        Tok.Save(dir);
        var loaded = BpeTokenizer.Load(dir);
        var viaFile = BpeTokenizer.Load(Path.Combine(dir, "tokenizer.json"));
        Assert.Equal(Tok.Hash, loaded.Hash);
        Assert.Equal(Tok.Hash, viaFile.Hash);
        Assert.Equal(16, Tok.Hash.Length);
        Assert.Equal(Tok.VocabSize, loaded.VocabSize);
        var rng = new Random(3);
        for (var i = 0; i < 50; i++)
        {
            var text = RandomText(rng) + "<|user|>";
            Assert.Equal(Tok.Encode(text), loaded.Encode(text));
            Assert.Equal(Tok.Encode(text, true), loaded.Encode(text, true));
        }
        var config = File.ReadAllText(Path.Combine(dir, "tokenizer_config.json"));
        Assert.Contains("\"chat_template\"", config);
        Assert.Contains("\"eos_token\": \"<|eos|>\"", config);
        Assert.Empty(Directory.GetFiles(dir, "*.tmp-*"));
    }
}
