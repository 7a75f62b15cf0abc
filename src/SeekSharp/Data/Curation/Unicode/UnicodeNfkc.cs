using System.Reflection;
using System.Text;

namespace SeekSharp.Data.Curation;

// Design: NFKC of our own. The project runs with InvariantGlobalization, where string.Normalize
// returns non-ASCII text unchanged (no ICU), so it cannot be relied on; a pinned table also makes
// curated text byte-identical on every host whatever ICU it has. The table (nfkc-data.txt, generated
// by gen-nfkc-data.py from Python's unicodedata) holds full compatibility decompositions, combining
// classes and primary composites; Hangul is algorithmic (Unicode §3.12). Algorithm: decompose,
// canonically reorder, canonically compose (UAX #15). Text with nothing to change is returned as is.
internal static class UnicodeNfkc
{
    private static readonly Dictionary<int, int[]> Decomp = [];
    private static readonly Dictionary<int, byte> Ccc = [];
    private static readonly Dictionary<long, int> Compose = [];
    private static readonly HashSet<int> ComposeSecond = [];
    private static readonly bool[] Unsafe;
    public static readonly string UnicodeVersion;

    private const int SBase = 0xAC00, LBase = 0x1100, VBase = 0x1161, TBase = 0x11A7;
    private const int LCount = 19, VCount = 21, TCount = 28, NCount = VCount * TCount, SCount = LCount * NCount;

    static UnicodeNfkc()
    {
        using var s = Assembly.GetExecutingAssembly().GetManifestResourceStream("SeekSharp.nfkc-data.txt")
            ?? throw new InvalidOperationException("embedded NFKC table missing");
        using var r = new StreamReader(s);
        UnicodeVersion = "";
        while (r.ReadLine() is { } line)
        {
            if (line.StartsWith('#')) { UnicodeVersion = line[1..].Trim(); continue; }
            var f = line.Split(' ');
            switch (f[0])
            {
                case "D": Decomp[Hex(f[1])] = [.. f.Skip(2).Select(Hex)]; break;
                case "C": Ccc[Hex(f[1])] = byte.Parse(f[2]); break;
                case "P":
                    Compose[Key(Hex(f[1]), Hex(f[2]))] = Hex(f[3]);
                    ComposeSecond.Add(Hex(f[2]));
                    break;
            }
        }
        // Hangul compositions are algorithmic, so their second halves (V and T jamo) are not in the table.
        for (var v = VBase; v < VBase + VCount; v++) ComposeSecond.Add(v);
        for (var t = TBase + 1; t < TBase + TCount; t++) ComposeSecond.Add(t);
        Unsafe = BuildUnsafe();
    }

    private static int Hex(string s) => Convert.ToInt32(s, 16);
    private static long Key(int a, int b) => ((long)a << 21) | (uint)b;
    private static int CccOf(int cp) => Ccc.TryGetValue(cp, out var c) ? c : 0;

    public static string Normalize(string s)
    {
        var i = 0;
        while (i < s.Length && !Unsafe[s[i]]) i++;
        if (i == s.Length) return s;
        // Work segment by segment: a safe starter (no decomposition, ccc 0, never a composition's
        // second half) can interact with nothing before it, so text between two of them is
        // independent. Clean segments are copied; only dirty ones go through the full algorithm.
        var sb = new StringBuilder(s.Length);
        var segStart = 0;
        var dirty = false;
        var cps = new List<int>();
        for (i = 0; i < s.Length; i++)
        {
            var c = s[i];
            if (!Unsafe[c])
            {
                if (dirty) { Flush(s, segStart, i, sb, cps); segStart = i; dirty = false; }
                continue;
            }
            dirty = true;
        }
        if (dirty) Flush(s, segStart, s.Length, sb, cps);
        else sb.Append(s, segStart, s.Length - segStart);
        return sb.ToString();
    }

    private static void Flush(string s, int start, int end, StringBuilder sb, List<int> cps)
    {
        // Copy the clean prefix of the segment up to its last safe starter, which may still compose.
        var lastSafe = start;
        for (var k = start; k < end && !Unsafe[s[k]]; k++) lastSafe = k;
        sb.Append(s, start, lastSafe - start);
        cps.Clear();
        foreach (var rune in s.AsSpan(lastSafe, end - lastSafe).EnumerateRunes()) Decompose(rune.Value, cps);
        Reorder(cps);
        ComposeInPlace(cps);
        foreach (var cp in cps)
        {
            if (cp < 0x10000) sb.Append((char)cp);
            else sb.Append(char.ConvertFromUtf32(cp));
        }
    }

    // BMP chars that are not safe starters; surrogates are marked unsafe so astral characters always
    // take the full path (dictionary lookups decide there).
    private static bool[] BuildUnsafe()
    {
        var u = new bool[0x10000];
        for (var c = 0xA0; c < 0x10000; c++)
            u[c] = (c >= SBase && c < SBase + SCount) || (c >= 0xD800 && c <= 0xDFFF)
                || Decomp.ContainsKey(c) || Ccc.ContainsKey(c) || ComposeSecond.Contains(c);
        return u;
    }

    private static void Decompose(int cp, List<int> into)
    {
        var si = cp - SBase;
        if (si >= 0 && si < SCount)
        {
            into.Add(LBase + si / NCount);
            into.Add(VBase + si % NCount / TCount);
            if (si % TCount != 0) into.Add(TBase + si % TCount);
        }
        else if (Decomp.TryGetValue(cp, out var d)) into.AddRange(d);
        else into.Add(cp);
    }

    // Stable sort of each run of non-starters by combining class (runs are short: insertion sort).
    private static void Reorder(List<int> cps)
    {
        for (var i = 1; i < cps.Count; i++)
        {
            var c = CccOf(cps[i]);
            if (c == 0) continue;
            var j = i;
            var cp = cps[i];
            while (j > 0 && CccOf(cps[j - 1]) > c) { cps[j] = cps[j - 1]; j--; }
            cps[j] = cp;
        }
    }

    private static void ComposeInPlace(List<int> cps)
    {
        if (cps.Count == 0) return;
        var starter = 0;
        var lastCcc = CccOf(cps[0]) == 0 ? 0 : 256;
        var write = 1;
        for (var read = 1; read < cps.Count; read++)
        {
            var cp = cps[read];
            var ccc = CccOf(cp);
            var blocked = lastCcc != 0 && lastCcc >= ccc;
            var starterCp = cps[starter];
            if (!blocked && (write == starter + 1 || lastCcc != 0) && TryCompose(starterCp, cp, out var composed))
            {
                cps[starter] = composed;
                continue;
            }
            if (ccc == 0) starter = write;
            lastCcc = ccc;
            cps[write++] = cp;
        }
        cps.RemoveRange(write, cps.Count - write);
    }

    private static bool TryCompose(int a, int b, out int c)
    {
        var li = a - LBase; var vi = b - VBase;
        if (li >= 0 && li < LCount && vi >= 0 && vi < VCount) { c = SBase + (li * VCount + vi) * TCount; return true; }
        var si = a - SBase; var ti = b - TBase;
        if (si >= 0 && si < SCount && si % TCount == 0 && ti > 0 && ti < TCount) { c = a + ti; return true; }
        return Compose.TryGetValue(Key(a, b), out c);
    }
}
