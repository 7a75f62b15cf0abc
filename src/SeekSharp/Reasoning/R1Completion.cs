using SeekSharp.Tokenization;

namespace SeekSharp.Reasoning;

// What an R1 completion must look like to earn the format reward, and where its answer is read from:
// "<think>{reasoning}</think><answer>{answer}</answer>" and nothing else. Strict on purpose, because RL
// finds every loophole a lenient parser leaves: each of the four tags appears exactly once and in that
// order (so an <answer> inside the reasoning, or a second answer, fails instead of being picked up);
// only whitespace may stand before <think>, between </think> and <answer>, and after </answer>; the
// answer is non-empty; and a completion cut off by the token limit is malformed whatever its text, since
// the model did not end its turn. The answer is only ever extracted from a well-formed completion, so the
// accuracy reward can never be earned by malformed text. Tags are compared as text: the decoder renders
// the single-token tags and their spelled-out forms alike, so neither is a way around the rules.

/// <summary>The outcome of parsing an R1 completion.</summary>
/// <param name="WellFormed">True when the completion has exactly the R1 shape.</param>
/// <param name="Answer">The trimmed text inside &lt;answer&gt;...&lt;/answer&gt;; null unless well-formed.</param>
/// <param name="Reason">Why the completion is malformed, or "ok".</param>
public sealed record R1Parse(bool WellFormed, string? Answer, string Reason)
{
    public static R1Parse Malformed(string reason) => new(false, null, reason);
}

/// <summary>Parses completions in the R1 format.</summary>
public static class R1Completion
{
    static readonly string[] Tags = [SpecialTokens.ThinkStart, SpecialTokens.ThinkEnd, SpecialTokens.AnswerStart, SpecialTokens.AnswerEnd];

    /// <param name="completion">The assistant's text, without the &lt;|eos|&gt; that ended it.</param>
    /// <param name="finished">False when generation stopped at the token limit instead of at &lt;|eos|&gt;.</param>
    public static R1Parse Parse(string completion, bool finished = true)
    {
        ArgumentNullException.ThrowIfNull(completion);
        if (!finished) return R1Parse.Malformed("cut off at the token limit");
        var at = new int[Tags.Length];
        for (int t = 0; t < Tags.Length; t++)
        {
            int count = Count(completion, Tags[t]);
            if (count != 1) return R1Parse.Malformed($"{count} {Tags[t]} tags (expected exactly 1)");
            at[t] = completion.IndexOf(Tags[t], StringComparison.Ordinal);
        }
        for (int t = 1; t < Tags.Length; t++)
            if (at[t] < at[t - 1]) return R1Parse.Malformed($"{Tags[t]} comes before {Tags[t - 1]}");
        if (!string.IsNullOrWhiteSpace(completion[..at[0]])) return R1Parse.Malformed("text before <think>");
        int thinkEnd = at[1] + Tags[1].Length;
        if (!string.IsNullOrWhiteSpace(completion[thinkEnd..at[2]])) return R1Parse.Malformed("text between </think> and <answer>");
        int answerEnd = at[3] + Tags[3].Length;
        if (!string.IsNullOrWhiteSpace(completion[answerEnd..])) return R1Parse.Malformed("text after </answer>");
        var answer = completion[(at[2] + Tags[2].Length)..at[3]].Trim();
        if (answer.Length == 0) return R1Parse.Malformed("empty answer");
        return new R1Parse(true, answer, "ok");
    }

    static int Count(string s, string tag)
    {
        int n = 0;
        for (int i = s.IndexOf(tag, StringComparison.Ordinal); i >= 0; i = s.IndexOf(tag, i + tag.Length, StringComparison.Ordinal)) n++;
        return n;
    }
}
