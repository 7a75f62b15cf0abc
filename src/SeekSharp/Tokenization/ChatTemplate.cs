namespace SeekSharp.Tokenization;

public sealed record ChatMessage(string Role, string Content);

/// <summary>
/// The one chat layout SeekSharp models are trained on:
/// <code>
/// &lt;|bos|&gt;&lt;|system|&gt;{system}&lt;|eos|&gt;&lt;|user|&gt;{user}&lt;|eos|&gt;&lt;|assistant|&gt;{assistant}&lt;|eos|&gt;...
/// </code>
/// One &lt;|bos|&gt; at the start; each message is its role token, its content verbatim (no added
/// spaces or newlines), then &lt;|eos|&gt;. A generation prompt is a bare &lt;|assistant|&gt;, so the model
/// ends its turn by emitting &lt;|eos|&gt;. EncodeChat builds ids piece by piece and encodes content with
/// special tokens disallowed, so text in a message can never forge a role boundary. The one exception
/// is the R1 reasoning tags (&lt;think&gt; &lt;/think&gt; &lt;answer&gt; &lt;/answer&gt;) inside assistant content:
/// they become their single tokens, as the model emits them when it generates, so SFT teaches the ids
/// that rewards look for. (Encode(Render(...), allowSpecial: true) agrees with EncodeChat whenever
/// user and system content hold no special-token text and assistant content no role tokens.)
/// </summary>
public static class ChatTemplate
{
    /// <summary>The same layout as a Hugging Face chat_template (Jinja).</summary>
    public const string Jinja =
        "{{ '<|bos|>' }}{% for message in messages %}"
        + "{% if message['role'] not in ['system', 'user', 'assistant'] %}{{ raise_exception('unknown chat role: ' + message['role']) }}{% endif %}"
        + "{{ '<|' + message['role'] + '|>' + message['content'] + '<|eos|>' }}{% endfor %}"
        + "{% if add_generation_prompt %}{{ '<|assistant|>' }}{% endif %}";

    public static string Render(IEnumerable<ChatMessage> messages, bool addGenerationPrompt)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var sb = new System.Text.StringBuilder(SpecialTokens.Bos);
        foreach (var m in messages)
            sb.Append(RoleToken(m.Role)).Append(m.Content).Append(SpecialTokens.Eos);
        if (addGenerationPrompt) sb.Append(SpecialTokens.Assistant);
        return sb.ToString();
    }

    /// <summary>
    /// Ids of the rendered chat and a mask that is true exactly on assistant content tokens and the
    /// &lt;|eos|&gt; closing each assistant message: the tokens SFT puts its loss on.
    /// </summary>
    public static (int[] Ids, bool[] AssistantMask) EncodeChat(BpeTokenizer tok, IEnumerable<ChatMessage> messages,
        bool addGenerationPrompt = false)
    {
        ArgumentNullException.ThrowIfNull(tok);
        ArgumentNullException.ThrowIfNull(messages);
        var ids = new List<int> { tok.BosId };
        var mask = new List<bool> { false };
        foreach (var m in messages)
        {
            ids.Add(tok.TokenToId(RoleToken(m.Role)));
            mask.Add(false);
            var isAssistant = m.Role == "assistant";
            var before = ids.Count;
            if (isAssistant) EncodeAssistantContent(tok, m.Content ?? "", ids);
            else tok.EncodeInto(m.Content ?? "", allowSpecial: false, ids);
            ids.Add(tok.EosId);
            for (var i = before; i < ids.Count; i++) mask.Add(isAssistant);
        }
        if (addGenerationPrompt)
        {
            ids.Add(tok.TokenToId(SpecialTokens.Assistant));
            mask.Add(false);
        }
        return ([.. ids], [.. mask]);
    }

    static readonly string[] ReasoningTags =
        [SpecialTokens.ThinkStart, SpecialTokens.ThinkEnd, SpecialTokens.AnswerStart, SpecialTokens.AnswerEnd];

    /// <summary>Assistant text: the reasoning tags as their tokens, everything else (role tokens included) as text.</summary>
    public static void EncodeAssistantContent(BpeTokenizer tok, string content, List<int> ids)
    {
        int start = 0;
        while (true)
        {
            int at = -1, tag = -1;
            for (int t = 0; t < ReasoningTags.Length; t++)
            {
                int i = content.IndexOf(ReasoningTags[t], start, StringComparison.Ordinal);
                if (i >= 0 && (at < 0 || i < at)) { at = i; tag = t; }
            }
            if (at < 0) break;
            tok.EncodeInto(content.AsSpan(start, at - start), allowSpecial: false, ids);
            ids.Add(tok.TokenToId(ReasoningTags[tag]));
            start = at + ReasoningTags[tag].Length;
        }
        tok.EncodeInto(content.AsSpan(start), allowSpecial: false, ids);
    }

    private static string RoleToken(string role) => role switch
    {
        "system" => SpecialTokens.System,
        "user" => SpecialTokens.User,
        "assistant" => SpecialTokens.Assistant,
        _ => throw new SeekSharpException($"chat message role \"{role}\" is not supported (expected system, user or assistant)"),
    };
}
