using SeekSharp.Data.Synthetic;
using SeekSharp.Tokenization;

namespace SeekSharp.Reasoning;

// The one place a problem becomes an R1-style chat: the user turn is the problem's prompt as written, the
// assistant turn is "<think>{working}</think><answer>{answer}</answer>". SFT renders training targets with
// it and RL renders prompts with it, so what cold-start SFT teaches is exactly what the format reward and
// the verifiers read back. No system prompt: on small models every token of context counts, and the
// format is taught by the data, not by an instruction (DeepSeek-R1's cold start does the same).

/// <summary>Renders synthetic problems as R1 chats.</summary>
public static class R1Format
{
    /// <summary>The conversation up to the assistant's turn: one user message holding the problem.</summary>
    public static IReadOnlyList<ChatMessage> Prompt(SyntheticProblem problem) => [new("user", problem.Prompt)];

    /// <summary>The reference assistant text: the worked solution as reasoning, then the exact answer.</summary>
    public static string Completion(SyntheticProblem problem) => Completion(problem.Solution, problem.Answer);

    /// <summary>"&lt;think&gt;{reasoning}&lt;/think&gt;&lt;answer&gt;{answer}&lt;/answer&gt;".</summary>
    public static string Completion(string reasoning, string answer) =>
        SpecialTokens.ThinkStart + reasoning + SpecialTokens.ThinkEnd + SpecialTokens.AnswerStart + answer + SpecialTokens.AnswerEnd;

    /// <summary>Prompt and reference completion: one SFT example.</summary>
    public static IReadOnlyList<ChatMessage> Chat(SyntheticProblem problem) =>
        [.. Prompt(problem), new("assistant", Completion(problem))];
}
