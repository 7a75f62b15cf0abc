namespace SeekSharp.Server.Generation;

// Stop sequences are matched on decoded text, not on tokens: the model may spell "###" as one token or
// three. Text that could still be the start of a stop sequence is held back until the next piece decides
// it, so no client ever sees the first half of a stop sequence.

/// <summary>Streams text up to the first occurrence of any stop sequence.</summary>
public sealed class StopMatcher(IReadOnlyList<string> stops)
{
    string pending = "";

    public bool Matched { get; private set; }

    /// <summary>Adds decoded text; returns what is now safe to emit. After a match, returns only the text before it.</summary>
    public string Push(string text)
    {
        if (Matched) return "";
        if (stops.Count == 0) return text;
        var s = pending + text;
        int first = -1;
        foreach (var stop in stops)
        {
            int at = s.IndexOf(stop, StringComparison.Ordinal);
            if (at >= 0 && (first < 0 || at < first)) first = at;
        }
        if (first >= 0)
        {
            Matched = true;
            pending = "";
            return s[..first];
        }
        int hold = 0;
        foreach (var stop in stops)
            for (int k = Math.Min(stop.Length - 1, s.Length); k > hold; k--)
                if (s.AsSpan(s.Length - k).SequenceEqual(stop.AsSpan(0, k))) { hold = k; break; }
        pending = s[^hold..];
        return s[..^hold];
    }

    /// <summary>At the end of generation: the held-back text that turned out not to be a stop sequence.</summary>
    public string Flush()
    {
        var s = pending;
        pending = "";
        return s;
    }
}
