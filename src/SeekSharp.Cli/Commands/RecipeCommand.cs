using System.CommandLine;
using SeekSharp.Recipes;
using Spectre.Console;

namespace SeekSharp.Cli.Commands;

/// <summary>`seek recipe finance`: the labelled finance-risk SFT set (see recipes/finance/README.md).</summary>
public static class RecipeCommand
{
    public static Command Create()
    {
        var output = Options.Out("Folder for sft.jsonl, documents.jsonl, summary.json and the generated sources.");
        var seed = new Option<int>("--seed") { Description = "Random seed.", DefaultValueFactory = _ => 0 };
        var companies = new Option<int>("--companies") { Description = "Companies to simulate.", DefaultValueFactory = _ => 8 };
        var days = new Option<int>("--days") { Description = "Trading days per company (at least 20).", DefaultValueFactory = _ => 120 };
        var lexicon = new Option<string?>("--lexicon") { Description = "\"word,score\" sentiment lexicon (e.g. AFINN-111) instead of the built-in finance words." };
        var finance = new Command("finance", "Build the finance risk recipe: prices, earnings and news joined and labelled.") { output, seed, companies, days, lexicon };
        finance.SetAction(p => SeekApp.Guard(() =>
        {
            var r = FinanceRecipe.Run(p.GetValue(output)!, p.GetValue(seed), p.GetValue(companies), p.GetValue(days), p.GetValue(lexicon));
            var t = new Table().AddColumns("companies", "days", "documents", "high risk", "low risk", "unlabeled", "news", "earnings");
            t.AddRow($"{r.Companies}", $"{r.TradingDays}", $"{r.Documents:N0}", $"{r.HighRisk:N0}", $"{r.LowRisk:N0}", $"{r.Unlabeled:N0}", $"{r.NewsItems:N0}", $"{r.EarningsReports:N0}");
            AnsiConsole.Write(t);
            foreach (var f in r.Files) AnsiConsole.MarkupLineInterpolated($"[grey]{f}[/]");
            AnsiConsole.MarkupLineInterpolated($"recipe written to [bold]{r.OutDir}[/]");
            return 0;
        }));
        return new Command("recipe", "End-to-end recipes.") { finance, RecipeR1Command.Create() };
    }
}
