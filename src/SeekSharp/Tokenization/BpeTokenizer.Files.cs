using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using SeekSharp.IO;

namespace SeekSharp.Tokenization;

/// <summary>
/// Reading and writing the Hugging Face tokenizers format. Merges are written as "a b" strings, the
/// form every version of the library (and Microsoft.ML.Tokenizers) reads; Load also accepts the newer
/// [a, b] pair form. Special tokens live both in model.vocab and in added_tokens with special:true,
/// as the Hugging Face trainer writes them. Load checks everything it relies on and names the file.
/// </summary>
public sealed partial class BpeTokenizer
{
    private static readonly JsonWriterOptions WriterOptions = new()
    {
        Indented = true,
        // Keeps the byte stand-ins (Ġ, Ċ, ...) readable; quotes, backslashes and controls are still escaped.
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    /// <summary>The files a saved tokenizer consists of.</summary>
    public static readonly string[] FileNames = ["tokenizer.json", "tokenizer_config.json"];

    /// <summary>
    /// Copies a saved tokenizer's files (those present) from <paramref name="from"/> (a folder or a tokenizer.json
    /// path) into <paramref name="toDir"/>, byte for byte, so a dataset or run folder carries its tokenizer.
    /// </summary>
    public static void CopyFiles(string from, string toDir)
    {
        var src = Directory.Exists(from) ? from : Path.GetDirectoryName(Path.GetFullPath(from))!;
        foreach (var f in FileNames)
            if (File.Exists(Path.Combine(src, f)))
                AtomicFile.WriteAllBytes(Path.Combine(toDir, f), CheckedFile.ReadAllBytes(Path.Combine(src, f), "tokenizer file not found.", CheckedFile.MaxTokenizerBytes));
    }

    public void Save(string dir)
    {
        Directory.CreateDirectory(dir);
        AtomicFile.Write(Path.Combine(dir, "tokenizer.json"), WriteTokenizerJson);
        AtomicFile.Write(Path.Combine(dir, "tokenizer_config.json"), WriteConfigJson);
    }

    private void WriteTokenizerJson(Stream stream)
    {
        using var w = new Utf8JsonWriter(stream, WriterOptions);
        w.WriteStartObject();
        w.WriteString("version", "1.0");
        w.WriteNull("truncation");
        w.WriteNull("padding");
        w.WriteStartArray("added_tokens");
        foreach (var (token, id) in _specials.OrderBy(kv => kv.Value))
        {
            w.WriteStartObject();
            w.WriteNumber("id", id);
            w.WriteString("content", token);
            w.WriteBoolean("single_word", false);
            w.WriteBoolean("lstrip", false);
            w.WriteBoolean("rstrip", false);
            w.WriteBoolean("normalized", false);
            w.WriteBoolean("special", true);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteNull("normalizer");
        w.WriteStartObject("pre_tokenizer");
        w.WriteString("type", "Sequence");
        w.WriteStartArray("pretokenizers");
        w.WriteStartObject();
        w.WriteString("type", "Split");
        w.WriteStartObject("pattern");
        w.WriteString("Regex", ByteLevel.Pattern);
        w.WriteEndObject();
        w.WriteString("behavior", "Isolated");
        w.WriteBoolean("invert", false);
        w.WriteEndObject();
        WriteByteLevel(w, null, useRegex: false);
        w.WriteEndArray();
        w.WriteEndObject();
        w.WriteNull("post_processor");
        WriteByteLevel(w, "decoder", useRegex: true);
        w.WriteStartObject("model");
        w.WriteString("type", "BPE");
        w.WriteNull("dropout");
        w.WriteNull("unk_token");
        w.WriteNull("continuing_subword_prefix");
        w.WriteNull("end_of_word_suffix");
        w.WriteBoolean("fuse_unk", false);
        w.WriteBoolean("byte_fallback", false);
        w.WriteBoolean("ignore_merges", false);
        w.WriteStartObject("vocab");
        for (var id = 0; id < VocabSize; id++) w.WriteNumber(_idToToken[id], id);
        w.WriteEndObject();
        w.WriteStartArray("merges");
        foreach (var (a, b) in _mergeStrings) w.WriteStringValue($"{a} {b}");
        w.WriteEndArray();
        w.WriteEndObject();
        w.WriteEndObject();
    }

    private static void WriteByteLevel(Utf8JsonWriter w, string? name, bool useRegex)
    {
        if (name is null) w.WriteStartObject(); else w.WriteStartObject(name);
        w.WriteString("type", "ByteLevel");
        w.WriteBoolean("add_prefix_space", false);
        w.WriteBoolean("trim_offsets", true);
        w.WriteBoolean("use_regex", useRegex);
        w.WriteEndObject();
    }

    private void WriteConfigJson(Stream stream)
    {
        using var w = new Utf8JsonWriter(stream, WriterOptions);
        w.WriteStartObject();
        w.WriteString("tokenizer_class", "PreTrainedTokenizerFast");
        w.WriteString("bos_token", SpecialTokens.Bos);
        w.WriteString("eos_token", SpecialTokens.Eos);
        w.WriteString("pad_token", SpecialTokens.Pad);
        w.WriteNull("unk_token");
        w.WriteBoolean("add_bos_token", false);
        w.WriteBoolean("add_eos_token", false);
        w.WriteBoolean("clean_up_tokenization_spaces", false);
        w.WriteString("seeksharp_hash", Hash);
        w.WriteString("chat_template", ChatTemplate.Jinja);
        w.WriteEndObject();
    }

    /// <summary>Loads a folder holding tokenizer.json, or a tokenizer.json path.</summary>
    public static BpeTokenizer Load(string path)
    {
        var file = Directory.Exists(path) ? Path.Combine(path, "tokenizer.json") : path;
        // A regular file of bounded size: a FIFO, a link to /dev/zero or a 10 GB file fail here, not in the parser.
        var bytes = CheckedFile.ReadAllBytes(file, "tokenizer file not found (expected a folder with tokenizer.json or the file itself)", CheckedFile.MaxTokenizerBytes);
        if (!System.Text.Unicode.Utf8.IsValid(bytes))
            throw new SeekSharpException($"{file}: not valid UTF-8 text; expected a Hugging Face tokenizer.json");
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(bytes);
        }
        catch (JsonException e)
        {
            throw new SeekSharpException($"{file}: not valid JSON ({e.Message}); expected a Hugging Face tokenizer.json", e);
        }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("model", out var model) || model.ValueKind != JsonValueKind.Object)
                throw new SeekSharpException($"{file}: missing \"model\" object (expected a Hugging Face tokenizer.json)");
            if (model.TryGetProperty("type", out var type) && (type.ValueKind != JsonValueKind.String || type.GetString() != "BPE"))
                throw new SeekSharpException($"{file}: model.type is \"{type}\", expected \"BPE\"");
            if (!model.TryGetProperty("vocab", out var vocabEl) || vocabEl.ValueKind != JsonValueKind.Object)
                throw new SeekSharpException($"{file}: missing model.vocab object (token -> id)");
            if (!model.TryGetProperty("merges", out var mergesEl) || mergesEl.ValueKind != JsonValueKind.Array)
                throw new SeekSharpException($"{file}: missing model.merges array");

            var specials = new Dictionary<string, int>(StringComparer.Ordinal);
            if (root.TryGetProperty("added_tokens", out var added) && added.ValueKind == JsonValueKind.Array)
                foreach (var t in added.EnumerateArray())
                {
                    if (t.ValueKind != JsonValueKind.Object || !t.TryGetProperty("content", out var c) || c.ValueKind != JsonValueKind.String
                        || c.GetString() is not { Length: > 0 }
                        || !t.TryGetProperty("id", out var i) || i.ValueKind != JsonValueKind.Number || !i.TryGetInt32(out var id))
                        throw new SeekSharpException($"{file}: an added_tokens entry lacks a non-empty string \"content\" or an integer \"id\"");
                    specials[c.GetString()!] = id;
                }

            var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
            foreach (var p in vocabEl.EnumerateObject())
            {
                if (p.Value.ValueKind != JsonValueKind.Number || !p.Value.TryGetInt32(out var id))
                    throw new SeekSharpException($"{file}: model.vocab entry \"{p.Name}\" has a non-integer id");
                if (specials.TryGetValue(p.Name, out var sid))
                {
                    if (sid != id) throw new SeekSharpException($"{file}: \"{p.Name}\" has id {id} in model.vocab but {sid} in added_tokens");
                    continue;
                }
                vocab[p.Name] = id;
            }

            var merges = new List<(string, string)>(mergesEl.GetArrayLength());
            foreach (var m in mergesEl.EnumerateArray()) merges.Add(ParseMerge(m, merges.Count, file));
            return new BpeTokenizer(vocab, merges, specials, file);
        }
    }

    private static (string, string) ParseMerge(JsonElement m, int index, string file)
    {
        if (m.ValueKind == JsonValueKind.String)
        {
            var s = m.GetString()!;
            var space = s.IndexOf(' ');
            if (space > 0 && space < s.Length - 1 && s.IndexOf(' ', space + 1) < 0) return (s[..space], s[(space + 1)..]);
        }
        else if (m.ValueKind == JsonValueKind.Array && m.GetArrayLength() == 2
                 && m[0].ValueKind == JsonValueKind.String && m[1].ValueKind == JsonValueKind.String)
            return (m[0].GetString()!, m[1].GetString()!);
        throw new SeekSharpException($"{file}: merge {index} is {m.GetRawText()}, expected \"left right\" or [\"left\", \"right\"]");
    }

    private string ComputeHash()
    {
        var sb = new StringBuilder();
        for (var id = 0; id < VocabSize; id++) sb.Append(id).Append('\t').Append(_idToToken[id]).Append('\n');
        sb.Append("#merges\n");
        foreach (var (a, b) in _mergeStrings) sb.Append(a).Append(' ').Append(b).Append('\n');
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(sb.ToString())))[..16];
    }
}
