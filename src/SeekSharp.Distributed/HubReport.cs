using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using SeekSharp.IO;
using SeekSharp.Ledger;

namespace SeekSharp.Distributed;

// RUN/report.md of a hub: one row per round (validation loss, updates averaged, bytes per worker), the per-worker
// totals of the ledger's network resource, and what was refused. Everything comes from metrics.jsonl and ledger.json,
// so the report can be rewritten from the files alone.

public static class HubReport
{
    public const string FileName = "report.md";

    public static string Write(string runDir)
    {
        var rounds = MetricsLog.Read(Path.Combine(runDir, MetricsLog.FileName));
        var ledger = LedgerEntry.Read(Path.Combine(runDir, "ledger.json"));
        var md = new StringBuilder("# DiLoCo hub\n\n| round | val loss | updates | tokens | bytes up | bytes down | bytes per worker (up/down) | seconds |\n|---|---|---|---|---|---|---|---|\n");
        foreach (var r in rounds)
        {
            var per = r["per_worker"] as JsonObject;
            var each = per is null ? "" : string.Join("; ", per.Select(kv => $"{kv.Key} {N(kv.Value?["bytes_up"])}/{N(kv.Value?["bytes_down"])}"));
            md.Append(CultureInfo.InvariantCulture, $"| {r["step"]} | {D(r["val_loss"]):F4} | {r["workers"]} | {N(r["tokens"])} | {N(r["bytes_up"])} | {N(r["bytes_down"])} | {each} | {D(r["seconds"]):F1} |\n");
        }
        if (ledger.Network is { } net)
        {
            md.Append("\n## Network (payload bytes, per worker)\n\n| worker | rounds averaged | tokens | inner steps | seconds | bytes received by the hub | bytes sent by the hub | bytes per round |\n|---|---|---|---|---|---|---|---|\n");
            foreach (var (name, p) in net.Peers.OrderBy(kv => kv.Key, StringComparer.Ordinal))
                md.Append(CultureInfo.InvariantCulture, $"| {name} | {p.Rounds} | {p.Tokens:N0} | {p.InnerSteps:N0} | {p.Seconds:F1} | {p.BytesReceived:N0} | {p.BytesSent:N0} | {p.BytesPerRound:N0} |\n");
            md.Append(CultureInfo.InvariantCulture, $"\nTotal: {net.BytesSent:N0} bytes sent, {net.BytesReceived:N0} received over {net.Rounds} rounds.\n");
        }
        if (rounds.Count > 0 && rounds[^1] is { } last)
            md.Append(CultureInfo.InvariantCulture, $"\nRefused: {last["rejected_checksum"]} checksum, {last["rejected_shape"]} shape, {last["rejected_nonfinite"]} NaN/Inf; {last["stale_dropped"]} late updates dropped; {last["leases_expired"]} leases expired.\n");
        md.Append(CultureInfo.InvariantCulture, $"\nWall {ledger.WallSeconds:F1} s, {ledger.EnergyKwh:F5} kWh, {ledger.Usd:F4} USD (the hub's process only).\n");
        var path = Path.Combine(runDir, FileName);
        AtomicFile.WriteAllText(path, md.ToString());
        return path;
    }

    static double D(JsonNode? n) => n is JsonValue v && v.TryGetValue<double>(out var d) ? d : double.NaN;
    static string N(JsonNode? n) => D(n) is var d && double.IsFinite(d) ? d.ToString("N0", CultureInfo.InvariantCulture) : "-";
}
