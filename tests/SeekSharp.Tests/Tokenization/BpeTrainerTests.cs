using SeekSharp.Tokenization;

namespace SeekSharp.Tests.Tokenization;

public class BpeTrainerTests
{
    private static readonly int Min = 256 + SpecialTokens.All.Count + 1;

    [Fact]
    public void LearnsTheMostFrequentPairFirst()
    {
        var tok = BpeTrainer.Train(Enumerable.Repeat("aaab aaab aaab", 10), Min + 2);
        Assert.Equal(3, tok.MergeCount);
        Assert.Equal("a", tok.IdToToken('a'));
        // Each "aaab" holds (a,a) twice and (a,b) once, so "a a" is the first merge.
        Assert.Equal("aa", tok.IdToToken(256));
        Assert.Equal(Min + 2, tok.VocabSize);
        var ids = tok.Encode("aaab");
        Assert.True(ids.Length < 4);
        Assert.Equal("aaab", tok.Decode(ids));
    }

    [Fact]
    public void MergesAcrossTheLeadingSpaceOfAWord()
    {
        var tok = BpeTrainer.Train(Enumerable.Repeat("x hello hello hello", 20), Min + 5);
        // The pre-token " hello" (space included) becomes one token: Ġhello in byte-level form.
        var ids = tok.Encode(" hello");
        Assert.Single(ids);
        Assert.Equal("Ġhello", tok.IdToToken(ids[0]));
    }

    [Fact]
    public void SplitDigitsLeavesEveryNumberOneTokenPerDigit()
    {
        var docs = Enumerable.Repeat("So 347 + 589 = 936, write 6 carry 1. 12 + 12 = 24.", 50).ToList();
        var merged = BpeTrainer.Train(docs, Min + 40);
        var split = BpeTrainer.Train(docs, Min + 40, splitDigits: true);
        Assert.True(merged.Encode("347").Length < 3);
        Assert.Equal(3, split.Encode("347").Length);
        Assert.Equal(5, split.Encode("12345").Length);
        Assert.Single(split.Encode(" carry"));                 // words still merge
        Assert.Equal("So 347 + 589 = 936", split.Decode(split.Encode("So 347 + 589 = 936")));
    }

    [Fact]
    public void RejectsTooSmallVocab()
    {
        var e = Assert.Throws<SeekSharpException>(() => BpeTrainer.Train(["abc"], Min - 1));
        Assert.Contains("vocab size", e.Message);
    }

    [Fact]
    public void StopsEarlyWhenNoPairsAreLeft()
    {
        var tok = BpeTrainer.Train(["ab"], Min + 100);
        Assert.Equal(1, tok.MergeCount);
        Assert.Equal(256 + 1 + SpecialTokens.All.Count, tok.VocabSize);
        Assert.Equal(tok.VocabSize - 1, tok.TokenToId(SpecialTokens.AnswerEnd));
    }

    [Fact]
    public void IsDeterministic()
    {
        var corpus = TokenizerFixture.Corpus();
        var progress = new List<int>();
        var a = BpeTrainer.Train(corpus, 256 + 10 + 300, (done, total) => { Assert.Equal(300, total); progress.Add(done); });
        var b = BpeTrainer.Train(corpus.AsEnumerable().Reverse(), 256 + 10 + 300);
        Assert.Equal(a.Hash, b.Hash);
        Assert.Equal(300, progress[^1]);
    }
}
