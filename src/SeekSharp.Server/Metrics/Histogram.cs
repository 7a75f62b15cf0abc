using System.Globalization;
using System.Text;

namespace SeekSharp.Server.Metrics;

/// <summary>A Prometheus histogram with fixed upper bounds (seconds).</summary>
public sealed class Histogram(string name, string help, double[] bounds)
{
    readonly long[] counts = new long[bounds.Length + 1];
    readonly Lock gate = new();
    double sum;
    long count;

    public void Observe(double value)
    {
        lock (gate)
        {
            int i = 0;
            while (i < bounds.Length && value > bounds[i]) i++;
            counts[i]++;
            sum += value;
            count++;
        }
    }

    public long Count { get { lock (gate) return count; } }

    public void Render(StringBuilder sb)
    {
        lock (gate)
        {
            sb.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n');
            sb.Append("# TYPE ").Append(name).Append(" histogram\n");
            long cumulative = 0;
            for (int i = 0; i < bounds.Length; i++)
            {
                cumulative += counts[i];
                sb.Append(CultureInfo.InvariantCulture, $"{name}_bucket{{le=\"{bounds[i].ToString(CultureInfo.InvariantCulture)}\"}} {cumulative}\n");
            }
            sb.Append(CultureInfo.InvariantCulture, $"{name}_bucket{{le=\"+Inf\"}} {count}\n");
            sb.Append(CultureInfo.InvariantCulture, $"{name}_sum {sum.ToString("R", CultureInfo.InvariantCulture)}\n");
            sb.Append(CultureInfo.InvariantCulture, $"{name}_count {count}\n");
        }
    }
}
