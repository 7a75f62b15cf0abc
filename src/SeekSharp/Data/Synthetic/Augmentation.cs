using System.Globalization;

namespace SeekSharp.Data.Synthetic;

// Shared pieces of augmentation. A plan picks which transformations apply (each with probability 1/2,
// at least one); tasks then rebuild the problem from parameters, so the answer is always recomputed.
// Distractors are irrelevant sentences that contain numbers: a model must learn to ignore numbers that
// are not operands. They never mention the problem's own quantities, so the answer cannot change.

/// <summary>Which transformations an augmentation applies.</summary>
internal readonly record struct AugmentPlan(bool Resample, bool Swap, bool Rephrase, bool Distract)
{
    public static AugmentPlan Draw(Random rng)
    {
        var p = new AugmentPlan(rng.Next(2) == 0, rng.Next(2) == 0, rng.Next(2) == 0, rng.Next(2) == 0);
        return p.Resample || p.Swap || p.Rephrase || p.Distract ? p : p with { Rephrase = true };
    }
}

internal static class Augmentation
{
    // (sentence, smallest, largest): ranges keep the facts plausible, so the only thing wrong with a
    // distractor is that it is irrelevant.
    static readonly (string Text, int Lo, int Hi)[] General =
    [
        ("A shop on the corner sold {0} umbrellas last week.", 3, 400),
        ("The train left platform {0} a few minutes late.", 1, 12),
        ("It was {0} degrees outside that afternoon.", 5, 35),
        ("Room {0} of the library was being painted.", 100, 450),
        ("A farmer counted {0} sheep in the field.", 12, 300),
        ("The bus route had {0} stops.", 6, 40),
    ];

    static readonly (string Text, int Lo, int Hi)[] Financial =
    [
        ("The company employs about {0} people.", 40, 90_000),
        ("Its headquarters building has {0} floors.", 2, 60),
        ("{0} analysts cover the stock.", 2, 35),
        ("The firm was founded {0} years ago.", 3, 120),
        ("The annual shareholder meeting lasted {0} minutes.", 30, 180),
        ("The company operates {0} warehouses.", 2, 80),
    ];

    /// <summary>A sentence with a random number that has nothing to do with the problem.</summary>
    public static string Distractor(Random rng, bool financial = false)
    {
        var pool = financial ? Financial : General;
        var (text, lo, hi) = pool[rng.Next(pool.Length)];
        return string.Format(CultureInfo.InvariantCulture, text, rng.Next(lo, hi + 1));
    }

    /// <summary>A template index different from <paramref name="current"/> (when there is more than one).</summary>
    public static int OtherTemplate(Random rng, int current, int count) =>
        count <= 1 ? 0 : (current + 1 + rng.Next(count - 1)) % count;

    /// <summary>Puts the distractor before the prompt or after its first sentence.</summary>
    public static string Insert(string prompt, string distractor, Random rng)
    {
        int cut = prompt.IndexOf(". ", StringComparison.Ordinal);
        return rng.Next(2) == 0 || cut < 0
            ? distractor + " " + prompt
            : prompt[..(cut + 2)] + distractor + " " + prompt[(cut + 2)..];
    }

    /// <summary>Applies the distractor step of a plan, and guarantees the prompt changed.</summary>
    public static SyntheticProblem Finish(SyntheticProblem original, SyntheticProblem made, AugmentPlan plan, Random rng, bool financial = false)
    {
        var prompt = made.Prompt;
        if (plan.Distract || prompt == original.Prompt) prompt = Insert(prompt, Distractor(rng, financial), rng);
        return made with { Prompt = prompt };
    }

    public static string Inv(long v) => v.ToString(CultureInfo.InvariantCulture);
    public static string Inv(decimal v) => v.ToString(CultureInfo.InvariantCulture);
    public static long Long(SyntheticProblem p, string key) => long.Parse(p.Param(key), CultureInfo.InvariantCulture);
    public static decimal Dec(SyntheticProblem p, string key) => decimal.Parse(p.Param(key), CultureInfo.InvariantCulture);
}
