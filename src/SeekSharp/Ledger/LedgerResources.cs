// Design: the eight resources a run spends (compute, data, people, storage, network, time, money, energy), each with
// how its figure was obtained, derived from what the ledger already holds rather than kept beside it, so the resources
// can never disagree with the entry. What a ledger does not know stays unknown (null), never zero: a ledger written
// before a resource was kept (no ledger_version) has no people, storage or network figures, and saying "0 bytes" for
// them would be a claim. Prices come from the hardware profile, with documented defaults.

namespace SeekSharp.Ledger;

/// <summary>How a figure was obtained.</summary>
public static class Provenance
{
    /// <summary>Read from the machine or the disk while the run ran (clocks, CPU time, RAPL, file sizes, bytes sent).</summary>
    public const string Measured = "measured";
    /// <summary>Computed from a model of the thing (FLOPs counted from the architecture, energy from a power model).</summary>
    public const string Estimated = "estimated";
    /// <summary>Stated by the user (a profile's person-hours or prices).</summary>
    public const string Declared = "declared";
    /// <summary>Not known to this ledger.</summary>
    public const string Unknown = "unknown";
}

/// <summary>One quantity of one resource: e.g. compute / CPU core-seconds / 1,234 / measured / $0.03.</summary>
public sealed record ResourceLine(string Resource, string Quantity, double? Value, string Unit, string Method, double? Usd)
{
    /// <summary>The eight resources, in the order reports list them.</summary>
    public static readonly IReadOnlyList<string> Resources = ["compute", "data", "people", "storage", "network", "time", "money", "energy"];
}

/// <summary>The eight-resource view of a ledger entry.</summary>
public static class LedgerResources
{
    /// <summary>Ledgers written by this version carry it; older ones have none, and their missing resources read as unknown.</summary>
    public const int CurrentVersion = 2;

    /// <summary>Every quantity of <paramref name="e"/>, its headline figure first within each resource.</summary>
    public static IReadOnlyList<ResourceLine> Of(LedgerEntry e)
    {
        var hw = e.Hardware;
        bool v2 = e.LedgerVersion >= CurrentVersion;
        var hours = e.WallSeconds / 3600.0;
        var energyMethod = e.EnergyMethod == EnergyMeter.RaplMethod ? Provenance.Measured : e.EnergyMethod == EnergyMeter.ModelMethod ? Provenance.Estimated : LedgerTotal.MixedMethod;
        var rental = hw.UsdPerHour * hours;
        var power = hw.UsdPerKwh * e.EnergyKwh;
        double? declared = e.DeclaredPeopleHours ?? (v2 || hw.PeopleHours is not null ? PeopleHours(e) : null);
        double? attended = e.AttendedSeconds is { } a ? a / 3600 : v2 ? 0 : null;
        double? people = declared + (attended ?? 0);
        var peopleMethod = people is null ? Provenance.Unknown
            : attended > 0 ? declared > 0 ? LedgerTotal.MixedMethod : Provenance.Measured : Provenance.Declared;
        double? storageGb = e.Storage is { } s ? s.KeptBytes / 1e9 : v2 ? 0 : null;
        double? sentGb = e.Network is { } n ? n.BytesSent / 1e9 : v2 ? 0 : null;
        double? acquisition = e.Data is { } d ? d.AcquisitionUsd : v2 ? 0 : null;
        var lines = new List<ResourceLine>
        {
            new("compute", "model FLOPs", e.ModelFlops, "FLOP", Provenance.Estimated, null),
            new("compute", "CPU core-seconds", e.CpuSeconds, "s", Provenance.Measured, hw.Accelerator is null ? rental : null),
            new("compute", "accelerator-hours", hw.Accelerator is null ? 0 : hours, "h", hw.Accelerator is null ? Provenance.Measured : Provenance.Estimated,
                hw.Accelerator is null ? null : rental),
            new("data", "tokens trained or processed", e.Tokens, "tokens", Provenance.Measured, null),
            new("data", "documents read", e.Data?.DocumentsRead, "documents", e.Data?.DocumentsRead is null ? Provenance.Unknown : Provenance.Measured, null),
            new("data", "documents kept", e.Data?.DocumentsKept, "documents", e.Data is null ? Provenance.Unknown : Provenance.Measured, null),
            new("data", "bytes read", e.Data?.BytesRead, "B", e.Data?.BytesRead is null ? Provenance.Unknown : Provenance.Measured, null),
            // Origins are what the data's maker recorded (DataOrigin): declared, by the program for its own output or by a person.
            Share("synthetic share", e.Data?.ShareOf(DataOrigin.Synthetic), Provenance.Declared),
            Share("human-labelled share", e.Data?.ShareOf(DataOrigin.HumanLabelled), Provenance.Declared),
            Share("curated share", e.Data?.CuratedShare, Provenance.Measured),
            // Declared beside the data (DataOrigin); a run that read no dataset acquired none.
            new("data", "acquisition cost", acquisition, "USD", acquisition is null ? Provenance.Unknown : e.Data is null ? Provenance.Measured : Provenance.Declared, acquisition),
            new("people", "person-hours", people, "h", peopleMethod, people * hw.UsdPerPersonHour),
            new("people", "declared hours", declared, "h", declared is null ? Provenance.Unknown : Provenance.Declared, null),
            new("people", "attended hours", attended, "h", attended is null ? Provenance.Unknown : Provenance.Measured, null),
            new("storage", "bytes kept", e.Storage?.KeptBytes ?? (v2 ? 0 : null), "B", e.Storage is null && !v2 ? Provenance.Unknown : Provenance.Measured,
                storageGb * hw.UsdPerGbMonth),
            new("storage", LedgerTotalResources.PeakQuantity, e.Storage is null ? v2 ? 0 : null : e.Storage.PeakBytes, "B",
                (e.Storage is null ? v2 : e.Storage.PeakBytes is not null) ? Provenance.Measured : Provenance.Unknown, null),
            new("storage", "bytes written", e.Storage?.WrittenBytes ?? (v2 ? 0 : null), "B", e.Storage is null && !v2 ? Provenance.Unknown : Provenance.Measured, null),
            new("network", "bytes sent and received", e.Network is { } net ? net.BytesSent + net.BytesReceived : v2 ? 0 : null, "B",
                e.Network is null && !v2 ? Provenance.Unknown : Provenance.Measured, sentGb * hw.UsdPerGbEgress),
            new("time", "wall seconds", e.WallSeconds, "s", Provenance.Measured, null),
            new("energy", "energy", e.EnergyKwh, "kWh", energyMethod, hw.UsdPerKwh > 0 ? power : null),
            new("energy", "CO2", e.Co2Grams, "g", energyMethod, null),
        };
        if (hw.LitersWaterPerKwh is { } water) lines.Add(new("energy", "water", e.EnergyKwh * water, "L", Provenance.Estimated, null));
        var priced = lines.Where(l => l.Usd is not null).ToList();
        var total = priced.Sum(l => l.Usd!.Value);
        lines.Insert(lines.FindIndex(l => l.Resource == "energy"), new("money", "US dollars", total, "USD",
            priced.All(l => l.Method == Provenance.Measured) ? Provenance.Measured : Provenance.Estimated, total));
        return lines;
    }

    /// <summary>The money line's shares: each priced quantity's dollars over the total (empty when nothing cost anything).</summary>
    public static IReadOnlyList<(string Resource, string Quantity, double Share)> Shares(IReadOnlyList<ResourceLine> lines)
    {
        var total = lines.Single(l => l.Resource == "money").Usd ?? 0;
        return total <= 0 ? [] : [.. lines.Where(l => l.Resource != "money" && l.Usd is > 0).Select(l => (l.Resource, l.Quantity, l.Usd!.Value / total))];
    }

    /// <summary>The headline figure of each resource (the first line of each), for side-by-side comparison.</summary>
    public static IReadOnlyList<ResourceLine> Headlines(IReadOnlyList<ResourceLine> lines) =>
        [.. ResourceLine.Resources.Select(r => lines.First(l => l.Resource == r))];

    /// <summary>The unit of the data shares, which totals weigh by tokens rather than add.</summary>
    public const string FractionUnit = "fraction of tokens";

    static ResourceLine Share(string quantity, double? value, string method) =>
        new("data", quantity, value, FractionUnit, value is null ? Provenance.Unknown : method, null);

    static double PeopleHours(LedgerEntry e) =>
        e.Hardware.PeopleHours is { } map && (map.TryGetValue(e.Kind, out var h) || map.TryGetValue("*", out h)) ? h : 0;
}

/// <summary>The resources of a stage-summed ledger: each stage's lines, added quantity by quantity (unknown if any stage's is).</summary>
public static class LedgerTotalResources
{
    /// <summary>Sums <see cref="LedgerResources.Of(LedgerEntry)"/> over the stages.</summary>
    public static IReadOnlyList<ResourceLine> Of(LedgerTotal t)
    {
        var perStage = t.Stages.Select(LedgerResources.Of).ToList();
        var peak = SequentialPeak(perStage);
        var summed = perStage[0].Select((line, i) =>
        {
            if (line.Quantity == PeakQuantity) return line with { Value = peak, Method = peak is null ? Provenance.Unknown : Provenance.Measured };
            if (line.Unit == LedgerResources.FractionUnit) return WeightedShare(t, perStage, line);
            var same = perStage.Select(s => s.FirstOrDefault(l => l.Resource == line.Resource && l.Quantity == line.Quantity)).ToList();
            bool known = same.All(l => l?.Value is not null);
            var methods = same.Select(l => l?.Method ?? Provenance.Unknown).Distinct().ToList();
            return line with
            {
                Value = known ? same.Sum(l => l!.Value!.Value) : null,
                Method = known ? methods.Count == 1 ? methods[0] : LedgerTotal.MixedMethod : Provenance.Unknown,
                Usd = same.Any(l => l?.Usd is not null) ? same.Sum(l => l?.Usd ?? 0) : null,
            };
        }).ToList();
        // The stages ran one after another (wall seconds is their sum); the critical path is what they needed to take.
        if (t.CriticalPath is { } cp)
            summed.Insert(summed.FindIndex(l => l.Resource == "time") + 1, new("time", "critical path seconds", cp.WallSeconds, "s", Provenance.Measured, null));
        return summed;
    }

    /// <summary>SequentialPeak over the stages' ledgers, in bytes (LedgerTotal's merged storage).</summary>
    internal static long? SequentialPeakBytes(IEnumerable<LedgerEntry> stages) => (long?)SequentialPeak([.. stages.Select(LedgerResources.Of)]);

    internal const string PeakQuantity = "peak disk use";

    /// <summary>A data share of several stages: each stage that read a dataset weighted by the tokens it trained on or
    /// processed (stages that read none, such as evaluations, carry no weight); unknown if any such stage's is.</summary>
    static ResourceLine WeightedShare(LedgerTotal t, List<IReadOnlyList<ResourceLine>> perStage, ResourceLine line)
    {
        var read = Enumerable.Range(0, t.Stages.Count).Where(i => t.Stages[i].Data is not null)
            .Select(i => (Tokens: (double)t.Stages[i].Tokens, Line: perStage[i].First(l => l.Quantity == line.Quantity))).ToList();
        double weight = read.Sum(r => r.Tokens);
        if (read.Count == 0 || read.Any(r => r.Line.Value is null) || weight == 0) return line with { Value = null, Method = Provenance.Unknown };
        return line with { Value = read.Sum(r => r.Line.Value!.Value * r.Tokens) / weight, Method = read[0].Line.Method };
    }

    /// <summary>The peak disk use of stages run one after another, each keeping what it made: the largest of a stage's
    /// own peak plus what the stages before it kept (null if any of these is unknown). Summing the peaks would count a
    /// rotated-out checkpoint of one stage as on disk during another.</summary>
    static double? SequentialPeak(IReadOnlyList<IReadOnlyList<ResourceLine>> stages)
    {
        double before = 0, peak = 0;
        foreach (var s in stages)
        {
            if (s.First(l => l.Quantity == PeakQuantity).Value is not { } p || s.First(l => l.Quantity == "bytes kept").Value is not { } kept) return null;
            peak = Math.Max(peak, before + p);
            before += kept;
        }
        return peak;
    }
}
