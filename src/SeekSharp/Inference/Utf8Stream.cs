using System.Text;
using SeekSharp.Tokenization;

namespace SeekSharp.Inference;

/// <summary>Turns a token stream into text without splitting multi-byte UTF-8 characters across tokens.</summary>
public sealed class Utf8Stream(BpeTokenizer tok)
{
    readonly Decoder decoder = new UTF8Encoding(false).GetDecoder();

    public string Push(int id)
    {
        var bytes = tok.DecodeBytes([id]);
        var chars = new char[decoder.GetCharCount(bytes, 0, bytes.Length, flush: false)];
        decoder.GetChars(bytes, 0, bytes.Length, chars, 0, flush: false);
        return new string(chars);
    }
}
