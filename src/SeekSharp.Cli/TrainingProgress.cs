using SeekSharp.Training;
using Spectre.Console;

namespace SeekSharp.Cli;

// A live bar (step, loss, tokens/s, ETA) on an interactive terminal; when output is redirected
// (CI, logs) the same figures are printed as plain lines about twenty times per run.

/// <summary>Draws training progress with Spectre.Console.</summary>
public sealed class TrainingProgress : ITrainingObserver
{
    ProgressTask? task;
    int total, first, every = 1;
    readonly bool interactive = AnsiConsole.Profile.Capabilities.Interactive;
    readonly System.Diagnostics.Stopwatch clock = new();

    /// <summary>Runs <paramref name="work"/> with a progress display bound to this observer.</summary>
    public T Run<T>(string title, Func<TrainingProgress, T> work)
    {
        if (!interactive) return work(this);
        T result = default!;
        AnsiConsole.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(),
                     new ElapsedTimeColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                task = ctx.AddTask(title, autoStart: true, maxValue: 1);
                result = work(this);
            });
        return result;
    }

    public void OnStart(int firstStep, int totalSteps)
    {
        first = firstStep;
        total = totalSteps;
        every = Math.Max(1, (totalSteps - firstStep) / 20);
        clock.Restart();
        if (task is not null) { task.MaxValue = totalSteps; task.Value = firstStep; }
    }

    public void OnStep(StepMetrics m)
    {
        var val = m.ValLoss is { } v ? $" val {v:F3}" : "";
        // Loops bounded by a clock revise their step count as they go.
        if (m.TotalSteps != total)
        {
            total = m.TotalSteps;
            every = Math.Max(1, (total - first) / 20);
        }
        var line = $"step {m.Step}/{total} {m.Summary ?? $"loss {m.Loss:F3}{val}"} {m.TokensPerSecond:N0} tok/s";
        if (task is not null)
        {
            task.Description = line;
            task.MaxValue = total;
            task.Value = m.Step;
        }
        else if (m.Step == total || (m.Step - first) % every == 0)
        {
            // Average over the run so far: single steps are noisy (evaluation steps, a busy machine).
            double eta = (total - m.Step) * clock.Elapsed.TotalSeconds / Math.Max(1, m.Step - first);
            Console.WriteLine($"{line} eta {TimeSpan.FromSeconds(eta):hh\\:mm\\:ss}");
        }
    }

    public void OnMessage(string message) => AnsiConsole.MarkupLineInterpolated($"[grey]{message}[/]");
}
