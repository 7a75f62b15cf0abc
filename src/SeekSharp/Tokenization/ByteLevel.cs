namespace SeekSharp.Tokenization;

/// <summary>
/// The pieces shared by training, encoding and the Hugging Face file format. Bytes are written as
/// GPT-2's printable stand-in characters so vocab and merges are the standard ByteLevel format that
/// other tools read. The split regex is GPT-4's (cl100k) written without possessive quantifiers,
/// which .NET lacks; every alternative is greedy and succeeds without backtracking, so the matches
/// are the same, and the same text is valid for the Rust regex engine behind Hugging Face. Encoding and
/// training split with <see cref="PreTokenizer"/>, which makes the same cuts without a regex.
/// </summary>
internal static class ByteLevel
{
    public const string Pattern =
        @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    /// <summary>Byte value to its stand-in character (GPT-2's bytes_to_unicode).</summary>
    public static readonly char[] ByteToChar = BuildByteToChar();

    /// <summary>Stand-in character back to the byte; -1 for characters that are not stand-ins.</summary>
    public static readonly short[] CharToByte = BuildCharToByte();

    private static char[] BuildByteToChar()
    {
        var map = new char[256];
        var next = 256;
        for (var b = 0; b < 256; b++)
        {
            var printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            map[b] = printable ? (char)b : (char)next++;
        }
        return map;
    }

    private static short[] BuildCharToByte()
    {
        var map = new short[512];
        Array.Fill(map, (short)-1);
        for (var b = 0; b < 256; b++) map[ByteToChar[b]] = (short)b;
        return map;
    }

    /// <summary>Null when the string holds a character that is not a byte stand-in.</summary>
    public static byte[]? FromTokenString(string token)
    {
        var bytes = new byte[token.Length];
        for (var i = 0; i < token.Length; i++)
        {
            var c = token[i];
            if (c >= CharToByte.Length || CharToByte[c] < 0) return null;
            bytes[i] = (byte)CharToByte[c];
        }
        return bytes;
    }
}
