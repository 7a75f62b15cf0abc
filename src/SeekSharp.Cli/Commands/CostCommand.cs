using System.CommandLine;
using System.Globalization;
using SeekSharp.Ledger;
using SeekSharp.Modeling;
using Spectre.Console;

namespace SeekSharp.Cli.Commands;

/// <summary>`seek cost estimate`: what training a model on D tokens would cost on given hardware, from first principles.</summary>
public static class CostCommand
{
    public static Command Create() => new("cost", "Project what training would cost.") { Estimate() };

    static Command Estimate()
    {
        var preset = new Option<string?>("--preset") { Description = $"Model preset (attention FLOPs counted): {string.Join(", ", Presets.Names)}." };
        var model = new Option<string?>("--model") { Description = "Model folder whose config.json gives the architecture (attention FLOPs counted)." };
        var total = new Option<string?>("--params-total") { Description = "Total parameters (e.g. 671B); with --params-active instead of an architecture." };
        var active = new Option<string?>("--params-active") { Description = "Parameters a token uses (e.g. 37B): FLOPs = 6 x active per token, attention not counted." };
        var tokens = new Option<string>("--tokens") { Description = "Training tokens (e.g. 14.8T, 2B, 1e9).", Required = false };
        var hardware = new Option<string?>("--hardware") { Description = $"Hardware profile file or shipped name ({string.Join(", ", HardwareProfile.BuiltinNames)}); default as every ledger." };
        var mfu = new Option<double?>("--mfu") { Description = "Model FLOPs utilization to assume, in (0, 1], against the profile's dense peak of --precision." };
        var from = new Option<string?>("--from") { Description = "A finished run (folder with ledger.json, or the file): use the MFU it achieved on its own hardware." };
        var precision = new Option<string>("--precision") { Description = "Number format whose dense peak the MFU is of: bf16, fp8 or fp32.", DefaultValueFactory = _ => "bf16" };
        precision.AcceptOnlyFromAmong("bf16", "fp8", "fp32");
        var seqLen = new Option<int>("--seq-len") { Description = "Context the attention FLOPs are counted over (0 = the config's max_position_embeddings).", DefaultValueFactory = _ => 0 };
        var deepseek = new Option<bool>("--deepseek-v3") { Description = "Check the arithmetic against DeepSeek-V3's technical report (37B active, 14.8T tokens, H800) and print what its figures imply." };
        var cmd = new Command("estimate", "Project FLOPs, device-hours, dollars, energy and CO2 of training a model on D tokens.")
            { preset, model, total, active, tokens, hardware, mfu, from, precision, seqLen, deepseek };
        cmd.SetAction(p => SeekApp.Guard(() =>
        {
            if (p.GetValue(deepseek)) return DeepSeek(p.GetValue(hardware));
            int sources = (p.GetValue(preset) is null ? 0 : 1) + (p.GetValue(model) is null ? 0 : 1) + (p.GetValue(active) is null ? 0 : 1);
            if (sources != 1) throw new SeekSharpException("expected exactly one of --preset, --model or --params-active (with --params-total).");
            if (p.GetValue(mfu) is null == (p.GetValue(from) is null)) throw new SeekSharpException("expected exactly one of --mfu or --from RUN.");
            var d = Count(p.GetValue(tokens) ?? throw new SeekSharpException("--tokens: expected the number of training tokens (e.g. 2B)."), "--tokens");
            var hw = HardwareProfile.Resolve(p.GetValue(hardware));
            var prec = p.GetValue(precision)!;
            var (m, why) = p.GetValue(mfu) is { } given ? (given, "given") : FromRun(p.GetValue(from)!, prec);
            CostProjection r;
            if (p.GetValue(active) is { } a)
            {
                var act = Count(a, "--params-active");
                var tot = p.GetValue(total) is { } t ? Count(t, "--params-total") : act;
                if (tot < act) throw new SeekSharpException($"--params-total: expected at least --params-active ({act:N0}), got {tot:N0}.");
                r = CostEstimate.Project($"{tot:N0} parameters, {act:N0} active", (long)tot, (long)act, 6 * act, false, d, hw, prec, m, why);
            }
            else
            {
                var (name, cfg) = p.GetValue(preset) is { } n ? (n, Presets.Get(n)) : (p.GetValue(model)!, ModelConfig.Load(Path.Combine(p.GetValue(model)!, "config.json")));
                int seq = p.GetValue(seqLen);
                if (seq < 0) throw new SeekSharpException($"--seq-len: expected 0 (the config's context) or a positive length, got {seq}.");
                r = CostEstimate.Project(name, cfg, seq == 0 ? cfg.MaxPositionEmbeddings : seq, d, hw, prec, m, why);
            }
            Print(r);
            return 0;
        }));
        return cmd;
    }

    static (double Mfu, string Why) FromRun(string run, string precision)
    {
        var path = Directory.Exists(run) ? Path.Combine(run, "ledger.json") : run;
        var entry = LedgerEntry.Read(path);
        var m = CostEstimate.MeasuredMfu(entry, precision, $"ledger '{path}'");
        return (m, $"measured: {entry.Kind} at {entry.AchievedFlopsPerSecond / 1e9:N1} GFLOP/s on {entry.Hardware.Name}");
    }

    static int DeepSeek(string? hardware)
    {
        var h800 = HardwareProfile.Resolve(hardware ?? "h800");
        var mfu = DeepSeekV3Check.ImpliedMfu(h800);
        var (r, figures) = DeepSeekV3Check.Run(h800, mfu, "implied by the report's 2,664K pretraining GPU-hours");
        Print(r);
        var table = new Table().AddColumns("figure (DeepSeek-V3 report, Table 1)", "reported", "this estimate", "ratio", "note");
        foreach (var f in figures)
            table.AddRow(Markup.Escape(f.Figure), Big(f.Reported), Big(f.Estimated), Fmt($"{f.Ratio:F3}"), Markup.Escape(f.Note));
        AnsiConsole.Write(table);
        foreach (var c in DeepSeekV3Check.Claims(r)) AnsiConsole.MarkupLine("- " + Markup.Escape(c));
        return 0;
    }

    static void Print(CostProjection r)
    {
        var t = new Table().AddColumns("quantity", "projection").HideHeaders();
        t.AddRow("model", Markup.Escape(r.Model));
        t.AddRow("parameters", Fmt($"{Big(r.TotalParams)} total, {Big(r.ActiveParams)} active"));
        t.AddRow("tokens", Big(r.Tokens));
        t.AddRow("FLOPs per token", Fmt($"{r.FlopsPerToken:E3} ({(r.AttentionCounted ? "6 x active + attention" : "6 x active; attention not counted")})"));
        t.AddRow("training FLOPs", Fmt($"{r.Flops:E3}"));
        t.AddRow("hardware", Markup.Escape($"{r.Hardware.Name}: {r.Precision} dense peak {(r.PeakFlops >= 1e12 ? $"{r.PeakFlops / 1e12:0.#} TFLOP/s" : $"{r.PeakFlops / 1e9:0.#} GFLOP/s")}"));
        t.AddRow("MFU", Markup.Escape(string.Create(CultureInfo.InvariantCulture, $"{r.Mfu:P1} ({r.MfuSource})")));
        t.AddRow(r.Hardware.Accelerator is null ? "machine-hours" : "GPU-hours", Fmt($"{r.DeviceHours:N0} ({r.DeviceHoursPerTrillionTokens:N0} per trillion tokens)"));
        t.AddRow("cost", Fmt($"${r.Usd:N0} (${r.Hardware.UsdPerHour:F3}/hour, ${r.Hardware.UsdPerKwh:F3}/kWh)"));
        t.AddRow("energy", Fmt($"{r.EnergyKwh:N1} kWh ({r.Hardware.FullLoadWatts:N0} W a unit at full load, PUE {r.Hardware.Pue})"));
        t.AddRow("CO2", Fmt($"{r.Co2Grams / 1000:N1} kg at {r.Hardware.GramsCo2PerKwh:N0} g/kWh"));
        AnsiConsole.Write(t);
    }

    static string Fmt(FormattableString s) => Markup.Escape(s.ToString(CultureInfo.InvariantCulture));

    static string Big(double x) => Markup.Escape(x switch
    {
        >= 1e12 => string.Create(CultureInfo.InvariantCulture, $"{x / 1e12:0.###}T"),
        >= 1e9 => string.Create(CultureInfo.InvariantCulture, $"{x / 1e9:0.###}B"),
        >= 1e6 => string.Create(CultureInfo.InvariantCulture, $"{x / 1e6:0.###}M"),
        >= 1e3 => string.Create(CultureInfo.InvariantCulture, $"{x / 1e3:0.###}K"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{x:0.###}"),
    });

    /// <summary>A count such as 14.8T, 37B, 300M, 5K or 1e9; one `error:` naming <paramref name="flag"/> otherwise.</summary>
    internal static double Count(string text, string flag)
    {
        var s = text.Trim();
        double scale = s.Length > 0 ? char.ToUpperInvariant(s[^1]) switch { 'K' => 1e3, 'M' => 1e6, 'B' or 'G' => 1e9, 'T' => 1e12, _ => 1 } : 1;
        if (scale != 1) s = s[..^1];
        if (!double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) || !double.IsFinite(v) || v <= 0)
            throw new SeekSharpException($"{flag}: expected a positive count such as 14.8T, 37B, 300M or 1e9, got '{text}'.");
        return v * scale;
    }
}
