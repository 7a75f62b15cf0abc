using System.CommandLine;
using SeekSharp.Cli.Commands;
using Spectre.Console;

namespace SeekSharp.Cli;

// The `seek` command tree. Each stage is its own command that reads and writes folders, so any stage
// runs alone. User errors (SeekSharpException) print one red line naming the file or field and exit 1;
// anything else is a bug and keeps its stack trace.

public static class SeekApp
{
    public static RootCommand Build()
    {
        var root = new RootCommand("SeekSharp: train, align, compress and serve small DeepSeek-style language models.");
        root.Add(QuickstartCommand.Create());
        root.Add(TokCommand.Create());
        root.Add(DataCommand.Create());
        root.Add(BaseCommand.Create());
        root.Add(ChatCommand.Create());
        root.Add(GenerateCommand.Create());
        root.Add(ServeCommand.Create());
        root.Add(RecipeCommand.Create());
        root.Add(BenchCommand.Create());
        return root;
    }

    public static int Run(string[] args)
    {
        var parse = Build().Parse(args);
        return parse.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
    }

    /// <summary>Runs a command body, turning user errors into a clear message and exit code 1.</summary>
    public static int Guard(Func<int> body)
    {
        try { return body(); }
        catch (SeekSharpException e)
        {
            AnsiConsole.MarkupLineInterpolated($"[red]error:[/] {e.Message}");
            return 1;
        }
    }
}
