using SeekSharp.Server.Generation;
using SeekSharp.Tokenization;
using static SeekSharp.Tests.Server.TestServing;

namespace SeekSharp.Tests.Server;

/// <summary>Stop sequences on streamed text and the reasoning split on token ids.</summary>
public class TextPipelineTests
{
    static (string Emitted, bool Matched) Feed(string[] pieces, params string[] stops)
    {
        var m = new StopMatcher(stops);
        var emitted = string.Concat(pieces.Select(m.Push));
        return (m.Matched ? emitted : emitted + m.Flush(), m.Matched);
    }

    [Theory]
    [InlineData(new[] { "hello ", "wor", "ld" }, "world", "hello ", true)]       // split across pieces
    [InlineData(new[] { "ab", "c", "abd" }, "abd", "abc", true)]                  // a false start, then the real one
    [InlineData(new[] { "x##", "#y" }, "###", "x", true)]
    [InlineData(new[] { "no stop ", "here #" }, "##", "no stop here #", false)] // held back, then flushed
    [InlineData(new[] { "STOP at once" }, "STOP", "", true)]
    public void StopMatcherEmitsExactlyTheTextBeforeTheFirstStop(string[] pieces, string stop, string expected, bool matched)
    {
        var (emitted, m) = Feed(pieces, stop);
        Assert.Equal(expected, emitted);
        Assert.Equal(matched, m);
    }

    [Fact]
    public void StopMatcherNeverEmitsAPossibleStopPrefixAndPicksTheEarliestStop()
    {
        var m = new StopMatcher(["END", "xyz"]);
        Assert.Equal("text ", m.Push("text E"));
        Assert.Equal("", m.Push("N"));
        Assert.Equal("ENx", m.Push("xx"));   // "ENx" cannot start END; the last "x" may start "xyz"
        Assert.Equal("x ", m.Push(" "));
        Assert.Equal("a ", m.Push("a xyz END"));
        Assert.True(m.Matched);
        Assert.Equal("", m.Push("more"));
    }

    [Fact]
    public void ChatDecoderSplitsReasoningDropsTagsAndCountsReasoningTokens()
    {
        var ids = Tok.Encode("<think>why not</think><answer>yes</answer><|user|>!", allowSpecial: true);
        var d = new ChoiceDecoder(Tok, [], chat: true);
        var deltas = ids.Select(d.Push).Append(d.Flush()).ToList();
        Assert.Equal("why not", string.Concat(deltas.Select(x => x.Reasoning)));
        Assert.Equal("yes!", string.Concat(deltas.Select(x => x.Content)));
        Assert.Equal(Tok.Encode("<think>why not</think>", allowSpecial: true).Length, d.ReasoningTokens);

        var raw = new ChoiceDecoder(Tok, [], chat: false);
        Assert.Equal("<think>why not</think><answer>yes</answer><|user|>!", string.Concat(ids.Select(raw.Push).Select(x => x.Content)));
        Assert.Equal(0, raw.ReasoningTokens);
    }

    [Fact]
    public void StopSequencesApplyToContentNotReasoning()
    {
        var ids = Tok.Encode("<think>a STOP b</think>c STOP d", allowSpecial: true);
        var d = new ChoiceDecoder(Tok, ["STOP"], chat: true);
        var deltas = new List<TextDelta>();
        foreach (var id in ids)
        {
            deltas.Add(d.Push(id));
            if (d.Stopped) break;
        }
        Assert.Equal("a STOP b", string.Concat(deltas.Select(x => x.Reasoning)));
        Assert.Equal("c ", string.Concat(deltas.Select(x => x.Content)));
        Assert.True(d.Stopped);
    }

    [Fact]
    public void MultiByteCharactersSplitAcrossTokensComeOutWhole()
    {
        var text = "日本語 über";
        var ids = Tok.Encode(text);
        var d = new ChoiceDecoder(Tok, [], chat: true);
        var pieces = ids.Select(id => d.Push(id).Content).ToList();
        Assert.Equal(text, string.Concat(pieces));
        Assert.DoesNotContain(pieces, p => p.Contains('\uFFFD'));
    }
}
