using System.CommandLine;
using SeekSharp.Cli.Commands;
using SeekSharp.Ledger;

namespace SeekSharp.Cli;

// The `seek` command tree. Each stage is its own command that reads and writes folders, so any stage
// runs alone. User errors (SeekSharpException, and the file system's own refusals: a missing folder,
// no permission, a full disk) print ONE line `error: ...` on stderr and exit 1, whatever the console's
// width (Spectre would wrap it at 80 columns when stdout is not a terminal); so do flags the parser
// rejects, without the help page. Anything else is a bug and keeps its stack trace.

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
        root.Add(EvalCommand.Create());
        root.Add(PruneCommand.Create());
        root.Add(ServeCommand.Create());
        root.Add(HubCommand.Create());
        root.Add(DistillCommand.Create());
        root.Add(HubCommand.CreateWorker());
        root.Add(StageCommand.Create());
        root.Add(RecipeCommand.Create());
        root.Add(BenchCommand.Create());
        root.Add(ExportCommand.Create());
        root.Add(QuantizeCommand.Create());
        root.Add(CostCommand.Create());
        root.Add(ReportCommand.Create());
        root.Add(PeopleHours);
        return root;
    }

    /// <summary>`--people-hours H`, on every command: the person-hours the run took, declared (the ledger's people
    /// resource; replaces the hardware profile's people_hours default for it, and adds to measured attended time).</summary>
    static readonly Option<double?> PeopleHours = new("--people-hours")
    {
        Description = "Person-hours this run took (declared; the ledger's people resource, instead of the hardware profile's default for it).",
        Recursive = true,
    };

    public static int Run(string[] args)
    {
        var parse = Build().Parse(args);
        if (parse.Errors.Count > 0)
            return Error(string.Join("; ", parse.Errors.Select(e => e.Message.TrimEnd('.'))) + $" (see `seek {string.Join(' ', CommandPath(parse))} --help`)");
        IDisposable? declared;
        try { declared = parse.GetValue(PeopleHours) is { } hours ? RunLedger.DeclarePeopleHours(hours) : null; }
        catch (SeekSharpException e) { return Error(e.Message); }
        using (declared) return parse.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
    }

    /// <summary>Runs a command body, turning user errors into a clear message and exit code 1.</summary>
    public static int Guard(Func<int> body)
    {
        try { return body(); }
        catch (SeekSharpException e) { return Error(e.Message); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return Error(e.Message); }
    }

    /// <summary>Prints `error: MESSAGE` as one line on stderr (red on a terminal) and returns exit code 1.</summary>
    public static int Error(string message)
    {
        var line = string.Join(' ', message.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        Console.Out.Flush();
        Console.Error.WriteLine(Console.IsErrorRedirected ? $"error: {line}" : $"\e[31merror:\e[0m {line}");
        return 1;
    }

    static IEnumerable<string> CommandPath(ParseResult parse)
    {
        var names = new List<string>();
        for (var c = parse.CommandResult; c is not null; c = c.Parent as System.CommandLine.Parsing.CommandResult)
            if (c.Command is not RootCommand) names.Insert(0, c.Command.Name);
        return names;
    }
}
