using System.Buffers;
using System.Collections.Concurrent;
using System.Text;
using System.Text.RegularExpressions;

namespace SeekSharp.Tokenization;

/// <summary>
/// A byte-level BPE tokenizer (Hugging Face ByteLevel format). Encoding splits text as the GPT-4
/// regex does (<see cref="PreTokenizer"/>, a hand-written scanner with the same cuts), then turns each pre-token into ids through two caches: a per-thread dictionary, read without
/// any synchronization (and with the non-randomized string hashing of an ordinary dictionary), and
/// behind it a thread-safe one shared by all threads, so each distinct pre-token is merged once per
/// tokenizer and looked up in the shared cache once per thread; on a miss in both the pre-token's
/// UTF-8 bytes are merged by rank (repeatedly the lowest-ranked adjacent pair, all its occurrences
/// left to right), which for real words is a handful of passes over a few symbols. Every byte is in
/// the vocabulary, so there is no unknown token and Decode is the exact inverse on bytes.
/// Ids are whatever the vocabulary says (a loaded file may order them differently from ours); the
/// trainer gives bytes 0..255, merges next, special tokens last.
/// </summary>
public sealed partial class BpeTokenizer
{
    private const int CacheLimit = 200_000;

    private readonly byte[][] _idToBytes;
    private readonly string[] _idToToken; // byte-level strings; specials as written
    private readonly int[] _byteToId = new int[256];
    private readonly Dictionary<long, (int Rank, int Id)> _merges;
    private readonly (string A, string B)[] _mergeStrings;
    private readonly Dictionary<string, int> _specials;
    private readonly bool[] _isSpecial;
    private readonly Regex _specialSplitter;
    private readonly ConcurrentDictionary<string, int[]> _cache = new(StringComparer.Ordinal);
    private int _cacheCount; // ConcurrentDictionary.Count takes every lock, far too slow per miss
    private const int ThreadCacheLimit = 65_536;
    private readonly ThreadLocal<Dictionary<string, int[]>> _threadCache = new(() => []);

    /// <param name="vocab">byte-level token string to id, without the special tokens</param>
    /// <param name="merges">merge rules in rank order</param>
    /// <param name="specials">special token text to id</param>
    /// <param name="source">names the origin in error messages (a file path)</param>
    internal BpeTokenizer(IReadOnlyDictionary<string, int> vocab, IReadOnlyList<(string A, string B)> merges,
        IReadOnlyDictionary<string, int> specials, string source)
    {
        VocabSize = vocab.Count + specials.Count;
        _idToBytes = new byte[VocabSize][];
        _idToToken = new string[VocabSize];
        _isSpecial = new bool[VocabSize];
        foreach (var (token, id) in vocab)
        {
            CheckId(id, token, source);
            _idToBytes[id] = ByteLevel.FromTokenString(token)
                ?? throw new SeekSharpException($"{source}: vocab token \"{token}\" is not byte-level text (expected only GPT-2 byte stand-in characters)");
            _idToToken[id] = token;
        }
        _specials = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var (token, id) in specials)
        {
            CheckId(id, token, source);
            _idToBytes[id] = Encoding.UTF8.GetBytes(token);
            _idToToken[id] = token;
            _isSpecial[id] = true;
            _specials[token] = id;
        }
        for (var b = 0; b < 256; b++)
        {
            var ch = ByteLevel.ByteToChar[b].ToString();
            if (!vocab.TryGetValue(ch, out _byteToId[b]))
                throw new SeekSharpException($"{source}: vocab lacks the byte token \"{ch}\" for byte 0x{b:X2} (a byte-level BPE vocab must hold all 256 bytes)");
        }
        foreach (var s in SpecialTokens.All)
            if (!_specials.ContainsKey(s))
                throw new SeekSharpException($"{source}: missing special token \"{s}\" (expected in added_tokens)");

        _mergeStrings = [.. merges];
        _merges = new Dictionary<long, (int, int)>(merges.Count);
        for (var r = 0; r < merges.Count; r++)
        {
            var (a, b) = merges[r];
            if (!vocab.TryGetValue(a, out var ia) || !vocab.TryGetValue(b, out var ib))
                throw new SeekSharpException($"{source}: merge {r} \"{a} {b}\" has a part that is not in the vocab");
            if (!vocab.TryGetValue(a + b, out var merged))
                throw new SeekSharpException($"{source}: merge {r} \"{a} {b}\" makes \"{a + b}\", which is not in the vocab");
            _merges.TryAdd(Key(ia, ib), (r, merged)); // a repeated rule keeps its first (lowest) rank
        }

        _specialSplitter = new Regex(string.Join('|', _specials.Keys.OrderByDescending(k => k.Length).Select(Regex.Escape)),
            RegexOptions.CultureInvariant);
        BosId = _specials[SpecialTokens.Bos];
        EosId = _specials[SpecialTokens.Eos];
        PadId = _specials[SpecialTokens.Pad];
        Hash = ComputeHash();
    }

    private void CheckId(int id, string token, string source)
    {
        if (id < 0 || id >= VocabSize)
            throw new SeekSharpException($"{source}: token \"{token}\" has id {id}, expected 0..{VocabSize - 1} (ids must be dense)");
        if (_idToToken[id] is not null)
            throw new SeekSharpException($"{source}: id {id} is used by both \"{_idToToken[id]}\" and \"{token}\"");
    }

    private static long Key(int a, int b) => ((long)a << 32) | (uint)b;

    public int VocabSize { get; }
    public int BosId { get; }
    public int EosId { get; }
    public int PadId { get; }
    public int MergeCount => _mergeStrings.Length;

    /// <summary>First 16 hex chars of SHA-256 over the vocab (in id order) and merges.</summary>
    public string Hash { get; }

    public IReadOnlyDictionary<string, int> Specials => _specials;

    public int TokenToId(string special) =>
        _specials.TryGetValue(special, out var id) ? id
        : throw new SeekSharpException($"\"{special}\" is not a special token of this tokenizer (known: {string.Join(", ", _specials.Keys)})");

    public bool TryGetSpecial(string special, out int id) => _specials.TryGetValue(special, out id);

    public bool IsSpecial(int id) => (uint)id < (uint)VocabSize && _isSpecial[id];

    /// <summary>The byte-level string for an id (special tokens as written).</summary>
    public string IdToToken(int id) => _idToToken[CheckedId(id)];

    /// <param name="allowSpecial">map literal special-token text to its id; otherwise it is encoded as
    /// ordinary text, so user content cannot inject control tokens</param>
    public int[] Encode(string text, bool allowSpecial = false)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new List<int>(text.Length / 3 + 4);
        EncodeInto(text, allowSpecial, ids);
        return [.. ids];
    }

    public void EncodeInto(ReadOnlySpan<char> text, bool allowSpecial, List<int> ids)
    {
        if (!allowSpecial) { EncodeOrdinary(text, ids); return; }
        var start = 0;
        foreach (var m in _specialSplitter.EnumerateMatches(text))
        {
            EncodeOrdinary(text[start..m.Index], ids);
            ids.Add(_specials[text.Slice(m.Index, m.Length).ToString()]);
            start = m.Index + m.Length;
        }
        EncodeOrdinary(text[start..], ids);
    }

    /// <summary>Encodes documents on all cores; results are in input order.</summary>
    public int[][] EncodeBatch(IReadOnlyList<string> texts, bool allowSpecial = false)
    {
        var result = new int[texts.Count][];
        Parallel.For(0, texts.Count, i => result[i] = Encode(texts[i], allowSpecial));
        return result;
    }

    private void EncodeOrdinary(ReadOnlySpan<char> text, List<int> ids)
    {
        if (text.IsEmpty) return;
        var mine = _threadCache.Value!;
        var local = mine.GetAlternateLookup<ReadOnlySpan<char>>();
        var shared = _cache.GetAlternateLookup<ReadOnlySpan<char>>();
        for (int at = 0, n; at < text.Length; at += n)
        {
            n = PreTokenizer.Next(text, at);
            var piece = text.Slice(at, n);
            if (!local.TryGetValue(piece, out var pieceIds))
            {
                if (!shared.TryGetValue(piece, out var key, out pieceIds))
                {
                    pieceIds = EncodePiece(piece);
                    key = piece.ToString();
                    // Bounded caches: long runs of unique junk must not grow memory without limit.
                    if (_cacheCount >= CacheLimit)
                    {
                        _cache.Clear();
                        _cacheCount = 0;
                    }
                    if (_cache.TryAdd(key, pieceIds)) Interlocked.Increment(ref _cacheCount);
                }
                if (mine.Count >= ThreadCacheLimit) mine.Clear();
                mine[key] = pieceIds;
            }
            ids.AddRange((ReadOnlySpan<int>)pieceIds);
        }
    }

    // Merges by rank: repeatedly the lowest-ranked adjacent pair, all its occurrences left to right. The
    // rank of every adjacent pair is kept in an array and looked up again only next to a merge, so a
    // piece of n bytes costs O(n) lookups, not one per pair per pass (long runs of '-' or '=' in mail
    // have hundreds of passes).
    private int[] EncodePiece(ReadOnlySpan<char> piece)
    {
        var maxBytes = Encoding.UTF8.GetMaxByteCount(piece.Length);
        var bytes = ArrayPool<byte>.Shared.Rent(maxBytes);
        var work = ArrayPool<int>.Shared.Rent(3 * maxBytes);
        var fresh = ArrayPool<bool>.Shared.Rent(maxBytes);
        try
        {
            var sym = work.AsSpan(0, maxBytes);
            var rank = work.AsSpan(maxBytes, maxBytes);             // rank of the pair (i, i+1), int.MaxValue: none
            var merged = work.AsSpan(2 * maxBytes, maxBytes);       // the id that pair merges into
            var n = Encoding.UTF8.GetBytes(piece, bytes);
            for (var i = 0; i < n; i++) sym[i] = _byteToId[bytes[i]];
            for (var i = 0; i + 1 < n; i++) LookUpPair(sym, rank, merged, i);
            while (n > 1)
            {
                var best = 0;
                for (var i = 1; i + 1 < n; i++) if (rank[i] < rank[best]) best = i;
                if (rank[best] == int.MaxValue) break;
                // The first occurrence of the pair is at best: nothing before it changes.
                int a = sym[best], b = sym[best + 1], id = merged[best], j = best;
                for (var i = best; i < n; j++)
                {
                    if (i + 1 < n && sym[i] == a && sym[i + 1] == b) { sym[j] = id; fresh[j] = true; i += 2; }
                    else { sym[j] = sym[i]; rank[j] = rank[i]; merged[j] = merged[i]; fresh[j] = false; i++; }
                }
                n = j;
                // A copied pair keeps its rank unless one of its symbols is a new merge.
                for (var k = Math.Max(best - 1, 0); k + 1 < n; k++)
                    if ((k >= best && fresh[k]) || fresh[k + 1]) LookUpPair(sym, rank, merged, k);
            }
            return sym[..n].ToArray();
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(bytes);
            ArrayPool<int>.Shared.Return(work);
            ArrayPool<bool>.Shared.Return(fresh);
        }
    }

    private void LookUpPair(Span<int> sym, Span<int> rank, Span<int> merged, int i)
    {
        if (_merges.TryGetValue(Key(sym[i], sym[i + 1]), out var mr)) (rank[i], merged[i]) = (mr.Rank, mr.Id);
        else rank[i] = int.MaxValue;
    }

    /// <summary>Raw bytes of the ids, for streaming decoders that join partial UTF-8 themselves.</summary>
    public byte[] DecodeBytes(ReadOnlySpan<int> ids) => DecodeBytes(ids, skipSpecial: false);

    private byte[] DecodeBytes(ReadOnlySpan<int> ids, bool skipSpecial)
    {
        var total = 0;
        foreach (var id in ids) total += _idToBytes[CheckedId(id)].Length;
        var bytes = new byte[total];
        var at = 0;
        foreach (var id in ids)
        {
            if (skipSpecial && _isSpecial[id]) continue;
            var t = _idToBytes[id];
            t.CopyTo(bytes, at);
            at += t.Length;
        }
        return at == total ? bytes : bytes[..at];
    }

    /// <summary>Exact inverse of Encode on bytes; invalid UTF-8 (a cut-off character) becomes U+FFFD.</summary>
    public string Decode(ReadOnlySpan<int> ids, bool skipSpecial = false) =>
        Encoding.UTF8.GetString(DecodeBytes(ids, skipSpecial));

    private int CheckedId(int id) =>
        (uint)id < (uint)VocabSize ? id
        : throw new SeekSharpException($"token id {id} is outside the vocabulary (expected 0..{VocabSize - 1})");
}
