namespace SeekSharp.Tokenization;

/// <summary>
/// The special tokens every SeekSharp tokenizer carries. They take the last ids of the vocabulary
/// (after the 256 bytes and the merges) so that growing the merge count never renumbers ordinary
/// tokens relative to the bytes. The think/answer tags are single tokens because reasoning rewards
/// look for them by id.
/// </summary>
public static class SpecialTokens
{
    public const string Bos = "<|bos|>";
    public const string Eos = "<|eos|>";
    public const string Pad = "<|pad|>";
    public const string System = "<|system|>";
    public const string User = "<|user|>";
    public const string Assistant = "<|assistant|>";
    public const string ThinkStart = "<think>";
    public const string ThinkEnd = "</think>";
    public const string AnswerStart = "<answer>";
    public const string AnswerEnd = "</answer>";

    /// <summary>In id order: the first of these gets id VocabSize - All.Count.</summary>
    public static IReadOnlyList<string> All { get; } =
        [Bos, Eos, Pad, System, User, Assistant, ThinkStart, ThinkEnd, AnswerStart, AnswerEnd];
}
