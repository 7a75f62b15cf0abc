using SeekSharp.Inference;
using SeekSharp.Tokenization;

namespace SeekSharp.Server.Generation;

// Reasoning split (docs/decisions/0008-serving-api.md): <think> and </think> are single special tokens,
// so the split is exact on ids: tokens between them go to reasoning_content, the rest to content, and the
// tags themselves are never shown. <answer>/</answer> are markup of the training format, like the role
// tokens: chat output drops them, so content is the answer text itself. Stop sequences apply to content
// only (a stop string in the reasoning does not end the answer). Text completions are raw: every token,
// special ones included, is decoded as written, and stop sequences apply to all of it.

/// <summary>One piece of decoded output.</summary>
public readonly record struct TextDelta(string Reasoning, string Content)
{
    public static readonly TextDelta None = new("", "");

    public bool IsEmpty => string.IsNullOrEmpty(Reasoning) && string.IsNullOrEmpty(Content);
}

/// <summary>Turns one choice's token ids into reasoning and content text, incrementally.</summary>
public sealed class ChoiceDecoder
{
    readonly BpeTokenizer tok;
    readonly bool chat;
    readonly int thinkStart, thinkEnd;
    readonly StopMatcher stop;
    Utf8Stream text;
    bool thinking;

    /// <param name="chat">true: split reasoning and drop special tokens; false: raw text completion.</param>
    public ChoiceDecoder(BpeTokenizer tokenizer, IReadOnlyList<string> stops, bool chat)
    {
        tok = tokenizer;
        this.chat = chat;
        thinkStart = tok.TokenToId(SpecialTokens.ThinkStart);
        thinkEnd = tok.TokenToId(SpecialTokens.ThinkEnd);
        stop = new StopMatcher(stops);
        text = new Utf8Stream(tok);
    }

    /// <summary>True once a stop sequence matched: the caller cancels generation and sends no more text.</summary>
    public bool Stopped => stop.Matched;

    /// <summary>Generated tokens that were reasoning, the think tags included (usage's reasoning_tokens).</summary>
    public int ReasoningTokens { get; private set; }

    public TextDelta Push(int id)
    {
        if (Stopped) return TextDelta.None;
        if (chat && tok.IsSpecial(id))
        {
            if (id == thinkStart || id == thinkEnd) ReasoningTokens++;
            if (id == thinkStart) thinking = true;
            else if (id == thinkEnd) thinking = false;
            text = new Utf8Stream(tok); // a special token ends any unfinished UTF-8 sequence
            return TextDelta.None;
        }
        var piece = text.Push(id);
        if (thinking)
        {
            ReasoningTokens++;
            return new TextDelta(piece, "");
        }
        return new TextDelta("", stop.Push(piece));
    }

    /// <summary>At the end of generation: content held back while it could have been a stop sequence.</summary>
    public TextDelta Flush() => Stopped ? TextDelta.None : new TextDelta("", stop.Flush());
}
