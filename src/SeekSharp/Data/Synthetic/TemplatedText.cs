namespace SeekSharp.Data.Synthetic;

// Templated English: a small grammar (subject, verb, object, place, time) filled at random, so a tiny
// model sees grammatical sentences with consistent agreement before any curated real text is added.

/// <summary>Generates short paragraphs of grammatical English from templates.</summary>
public static class TemplatedText
{
    static readonly string[] Adjectives = ["old", "young", "quiet", "clever", "tired", "patient", "busy", "careful", "cheerful", "brave"];
    static readonly string[] People = ["sailor", "teacher", "farmer", "doctor", "baker", "captain", "student", "painter", "merchant", "gardener"];
    static readonly string[] Verbs = ["carried", "found", "painted", "sold", "repaired", "counted", "opened", "cleaned", "bought", "wrote"];
    static readonly string[] Things = ["boxes", "letters", "boats", "books", "baskets", "maps", "lamps", "chairs", "barrels", "nets"];
    static readonly string[] Places = ["the harbor", "the market", "the school", "the old mill", "the village", "the garden", "the station", "the library"];
    static readonly string[] Times = ["before noon", "after dinner", "in the morning", "at dawn", "late at night", "on Sunday", "in the spring", "every day"];
    static readonly string[] Numbers = ["two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "twelve"];
    static readonly string[] Feelings = ["happy", "worried", "proud", "surprised", "calm", "curious"];

    static string Pick(Random r, string[] xs) => xs[r.Next(xs.Length)];

    public static string Sentence(Random r) => r.Next(4) switch
    {
        0 => $"The {Pick(r, Adjectives)} {Pick(r, People)} {Pick(r, Verbs)} {Pick(r, Numbers)} {Pick(r, Things)} at {Pick(r, Places)} {Pick(r, Times)}.",
        1 => $"{Cap(Pick(r, Times))}, a {Pick(r, People)} walked to {Pick(r, Places)} and {Pick(r, Verbs)} the {Pick(r, Things)}.",
        2 => $"When the {Pick(r, People)} {Pick(r, Verbs)} the {Pick(r, Things)}, everyone at {Pick(r, Places)} felt {Pick(r, Feelings)}.",
        _ => $"There were {Pick(r, Numbers)} {Pick(r, Things)} near {Pick(r, Places)}, and the {Pick(r, Adjectives)} {Pick(r, People)} {Pick(r, Verbs)} them {Pick(r, Times)}.",
    };

    public static string Paragraph(Random r, int minSentences = 3, int maxSentences = 6) =>
        string.Join(" ", Enumerable.Range(0, r.Next(minSentences, maxSentences + 1)).Select(_ => Sentence(r)));

    static string Cap(string s) => char.ToUpperInvariant(s[0]) + s[1..];
}
