// Design: the time resource of a recipe. Its stages ran one after another, so the sum of their wall times is what the
// recipe took; the critical path is what it must take however many machines it had: the longest chain of stages each
// of which needs the one before it (a stage trains the previous stage's model; an evaluation needs its stage's model,
// and nothing needs the evaluation). Stages off the path could have run beside it.

using System.Text.Json.Serialization;

namespace SeekSharp.Ledger;

/// <summary>The longest chain of dependent stages of a recipe, and its wall time.</summary>
public sealed record CriticalPath
{
    /// <summary>The stages on the path, first to last.</summary>
    [JsonPropertyName("stages")] public required IReadOnlyList<string> Stages { get; init; }
    /// <summary>The sum of their wall seconds.</summary>
    [JsonPropertyName("wall_seconds")] public required double WallSeconds { get; init; }

    /// <summary>One stage: its name, wall seconds and the indices of the stages it needs (all earlier in the list).</summary>
    public sealed record Job(string Name, double Seconds, IReadOnlyList<int> After);

    /// <summary>The path that ends latest if every stage starts as soon as the stages it needs are done.</summary>
    public static CriticalPath Of(IReadOnlyList<Job> jobs)
    {
        if (jobs.Count == 0) throw new ArgumentException("need at least one stage", nameof(jobs));
        var finish = new double[jobs.Count];
        var previous = new int[jobs.Count];
        for (int i = 0; i < jobs.Count; i++)
        {
            previous[i] = -1;
            foreach (var d in jobs[i].After)
            {
                if (d < 0 || d >= i) throw new ArgumentException($"stage {i} ({jobs[i].Name}) needs stage {d}: a stage needs only earlier ones", nameof(jobs));
                if (previous[i] < 0 || finish[d] > finish[previous[i]]) previous[i] = d;
            }
            finish[i] = jobs[i].Seconds + (previous[i] < 0 ? 0 : finish[previous[i]]);
        }
        int last = Array.IndexOf(finish, finish.Max());
        var path = new List<string>();
        for (int i = last; i >= 0; i = previous[i]) path.Add(jobs[i].Name);
        path.Reverse();
        return new CriticalPath { Stages = path, WallSeconds = finish[last] };
    }
}
