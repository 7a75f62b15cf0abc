using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using System.Text;

namespace SeekSharp.Tokenization;

/// <summary>
/// Byte-level BPE training. Documents are split by the GPT-4 regex and the distinct pre-token words
/// counted in parallel (one dictionary per worker, summed at the end), so the merge loop works on
/// tens of thousands of unique words instead of millions of occurrences. The merge loop keeps pair
/// counts, an index from pair to the words holding it, and a lazy max-heap: a merge only rewrites the
/// words that hold the pair, and stale heap entries are corrected when they surface (counts of old
/// pairs only fall; new pairs always involve the new token and are pushed fresh).
/// Ties between equally frequent pairs go to the smaller (left id, right id) so results are
/// deterministic regardless of thread scheduling. As in Hugging Face's trainer, a merge whose result
/// string already exists reuses that id, and training stops when the vocabulary is full or no pair
/// is left. With splitDigits, runs of ASCII digits take part in no merge, so every number encodes one
/// token per digit (as LLaMA's tokenizer does): a small model then sees the digits column arithmetic
/// works on, instead of having to learn the digits of hundreds of multi-digit tokens. The tokenizer
/// file stays a standard one: it simply has no merges between digits.
/// </summary>
public static class BpeTrainer
{
    public static BpeTokenizer Train(IEnumerable<string> documents, int vocabSize, Action<int, int>? progress = null, bool splitDigits = false)
    {
        ArgumentNullException.ThrowIfNull(documents);
        var minimum = 256 + SpecialTokens.All.Count + 1;
        if (vocabSize < minimum)
            throw new SeekSharpException(
                $"vocab size {vocabSize} is too small: it must be at least {minimum} (256 bytes + {SpecialTokens.All.Count} special tokens + 1 merge)");

        var words = CountWords(documents);
        // The pre-tokenizer gives digit runs words of their own, so leaving those words out is enough.
        if (splitDigits) foreach (var w in words.Keys.Where(w => w.All(char.IsAsciiDigit)).ToList()) words.Remove(w);
        var targetMerged = vocabSize - SpecialTokens.All.Count;
        var (tokens, merges) = RunMerges(words, targetMerged, progress);

        var vocab = new Dictionary<string, int>(tokens.Count, StringComparer.Ordinal);
        for (var i = 0; i < tokens.Count; i++) vocab[tokens[i]] = i;
        var specials = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var s in SpecialTokens.All) specials[s] = tokens.Count + specials.Count;
        var mergeStrings = merges.Select(m => (tokens[m.A], tokens[m.B])).ToList();
        return new BpeTokenizer(vocab, mergeStrings, specials, "trained tokenizer");
    }

    internal static Dictionary<string, int> CountWords(IEnumerable<string> documents)
    {
        var partials = new ConcurrentBag<Dictionary<string, int>>();
        Parallel.ForEach(
            documents,
            () => new Dictionary<string, int>(StringComparer.Ordinal),
            (string doc, ParallelLoopState state, Dictionary<string, int> local) =>
            {
                // The alternate lookup counts spans without allocating a string for words already seen.
                var lookup = local.GetAlternateLookup<ReadOnlySpan<char>>();
                var text = doc.AsSpan();
                for (int at = 0, n; at < text.Length; at += n)
                {
                    n = PreTokenizer.Next(text, at);
                    CollectionsMarshal.GetValueRefOrAddDefault(lookup, text.Slice(at, n), out _)++;
                }
                return local;
            },
            partials.Add);

        // Fold the smaller dictionaries into the largest.
        var parts = partials.OrderByDescending(p => p.Count).ToList();
        if (parts.Count == 0) return new Dictionary<string, int>(StringComparer.Ordinal);
        var total = parts[0];
        foreach (var part in parts.Skip(1))
            foreach (var (word, count) in part) CollectionsMarshal.GetValueRefOrAddDefault(total, word, out _) += count;
        return total;
    }

    private static long Key(int a, int b) => ((long)a << 32) | (uint)b;

    private static (List<string> Tokens, List<(int A, int B)> Merges) RunMerges(
        Dictionary<string, int> wordCounts, int targetTokens, Action<int, int>? progress)
    {
        var tokens = new List<string>(targetTokens);
        var tokenIds = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var b = 0; b < 256; b++)
        {
            var s = ByteLevel.ByteToChar[b].ToString();
            tokens.Add(s);
            tokenIds[s] = b;
        }

        var n = wordCounts.Count;
        var syms = new int[n][];
        var lens = new int[n];
        var counts = new long[n];
        var pairCounts = new Dictionary<long, long>();
        var where = new Dictionary<long, HashSet<int>>();
        var w = 0;
        foreach (var (word, count) in wordCounts)
        {
            var bytes = Encoding.UTF8.GetBytes(word);
            syms[w] = Array.ConvertAll(bytes, x => (int)x);
            lens[w] = bytes.Length;
            counts[w] = count;
            for (var i = 0; i + 1 < bytes.Length; i++)
            {
                var k = Key(bytes[i], bytes[i + 1]);
                CollectionsMarshal.GetValueRefOrAddDefault(pairCounts, k, out _) += count;
                (CollectionsMarshal.GetValueRefOrAddDefault(where, k, out _) ??= []).Add(w);
            }
            w++;
        }

        // Min-heap on (-count, key): most frequent first, then the smaller pair.
        var heap = new PriorityQueue<long, (long NegCount, long Key)>();
        foreach (var (k, c) in pairCounts) heap.Enqueue(k, (-c, k));

        var merges = new List<(int A, int B)>();
        var deltas = new Dictionary<long, long>();
        var totalMerges = targetTokens - 256;
        while (tokens.Count < targetTokens && heap.TryDequeue(out var key, out var pri))
        {
            var current = pairCounts.GetValueOrDefault(key);
            if (current != -pri.NegCount)
            {
                if (current > 0) heap.Enqueue(key, (-current, key));
                continue;
            }
            if (current <= 0) continue;

            int a = (int)(key >> 32), b = (int)(uint)key;
            var merged = tokens[a] + tokens[b];
            if (!tokenIds.TryGetValue(merged, out var newId))
            {
                newId = tokens.Count;
                tokens.Add(merged);
                tokenIds[merged] = newId;
            }
            merges.Add((a, b));

            deltas.Clear();
            foreach (var wi in where[key])
                MergeWord(syms[wi], ref lens[wi], counts[wi], a, b, newId, wi, deltas, where);
            where.Remove(key);
            foreach (var (k, d) in deltas)
            {
                if (d == 0) continue;
                ref var c = ref CollectionsMarshal.GetValueRefOrAddDefault(pairCounts, k, out _);
                c += d;
                if (d > 0) heap.Enqueue(k, (-c, k));
                else if (c <= 0) pairCounts.Remove(k);
            }
            if (progress is not null && (merges.Count % 256 == 0 || tokens.Count == targetTokens))
                progress(tokens.Count - 256, totalMerges);
        }
        return (tokens, merges);
    }

    /// <summary>
    /// Rewrites one word in place, merging (a, b) left to right. Its old pairs are subtracted and its
    /// new pairs added as a whole, which is simple and exact even for runs like "a a a".
    /// </summary>
    private static void MergeWord(int[] s, ref int len, long count, int a, int b, int newId, int wordIndex,
        Dictionary<long, long> deltas, Dictionary<long, HashSet<int>> where)
    {
        var found = false;
        for (var i = 0; i + 1 < len; i++)
            if (s[i] == a && s[i + 1] == b) { found = true; break; }
        if (!found) return; // the index is allowed to be stale

        for (var i = 0; i + 1 < len; i++)
            CollectionsMarshal.GetValueRefOrAddDefault(deltas, Key(s[i], s[i + 1]), out _) -= count;
        var j = 0;
        for (var i = 0; i < len;)
        {
            if (i + 1 < len && s[i] == a && s[i + 1] == b) { s[j++] = newId; i += 2; }
            else s[j++] = s[i++];
        }
        len = j;
        for (var i = 0; i + 1 < len; i++)
        {
            var k = Key(s[i], s[i + 1]);
            CollectionsMarshal.GetValueRefOrAddDefault(deltas, k, out _) += count;
            if (s[i] == newId || s[i + 1] == newId)
                (CollectionsMarshal.GetValueRefOrAddDefault(where, k, out _) ??= []).Add(wordIndex);
        }
    }
}
