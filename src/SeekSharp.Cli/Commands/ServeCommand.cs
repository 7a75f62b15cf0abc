using System.CommandLine;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Hosting;
using SeekSharp.Ledger;
using SeekSharp.Server;
using SeekSharp.Server.Auth;
using SeekSharp.Server.Billing;
using SeekSharp.Serving;
using Spectre.Console;

namespace SeekSharp.Cli.Commands;

/// <summary>`seek serve`: the OpenAI-compatible server; `seek serve keys add`: create an API key.</summary>
public static class ServeCommand
{
    public static Command Create()
    {
        var model = ModelOption();
        var name = new Option<string?>("--name") { Description = "Model id clients send as \"model\" (default: the model folder's name)." };
        var host = new Option<string>("--host") { Description = "Address to listen on; 0.0.0.0 exposes the server to the network. Requests are answered for loopback Host names and this address (any Host for 0.0.0.0 or ::).", DefaultValueFactory = _ => "127.0.0.1" };
        var port = new Option<int>("--port") { Description = "TCP port (0 = any free port).", DefaultValueFactory = _ => 8000 };
        var keys = new Option<string?>("--api-keys") { Description = "Keys file from `seek serve keys add`: requires a bearer key and enforces its rate and budget. Without it the API is open." };
        var pricing = new Option<string?>("--pricing") { Description = "Pricing JSON (USD per million tokens: input_cache_hit_per_million, input_cache_miss_per_million, output_per_million); default: DeepSeek's published deepseek-chat prices as an example." };
        var hardware = Options.Hardware();
        var ledgerPath = new Option<string?>("--ledger") { Description = "Write the server's ledger.json here on shutdown: its wall and CPU time, energy, tokens, FLOPs and bytes, and each key's share (what /v1/usage shows per key). Default: not written." };
        var device = Options.Device();
        var precision = PrecisionOption();
        var maxBatch = MaxBatchOption();
        var groupPrefill = GroupPrefillOption();
        var speculative = SpeculativeOption();
        var serve = new Command("serve", "Serve a model over an OpenAI-compatible HTTP API, with a chat page at /.")
            { model, name, host, port, keys, pricing, hardware, ledgerPath, device, precision, maxBatch, groupPrefill, speculative };
        serve.SetAction(p => SeekApp.Guard(() =>
        {
            var options = LoadServerOptions(p.GetValue(pricing), p.GetValue(keys)) with
            {
                Hardware = HardwareProfile.Resolve(p.GetValue(hardware)), LedgerPath = LedgerPathOf(p.GetValue(ledgerPath)),
            };
            using var served = ServedModel.Load(p.GetValue(model)!, p.GetValue(name), p.GetValue(device)!, p.GetValue(precision)!,
                new EngineOptions { MaxBatchSize = p.GetValue(maxBatch), GroupPrefill = p.GetValue(groupPrefill), Speculative = p.GetValue(speculative) == "on" });
            var app = SeekServer.Build(served, options, p.GetValue(host)!, p.GetValue(port));
            var url = Start(app, p.GetValue(host)!, p.GetValue(port));
            PrintBanner(served, options, url, p.GetValue(precision)!, p.GetValue(maxBatch), IsLoopback(p.GetValue(host)!));
            app.WaitForShutdown();
            AnsiConsole.MarkupLine("[grey]stopped.[/]");
            if (options.LedgerPath is { } lp && File.Exists(lp)) AnsiConsole.MarkupLineInterpolated($"[grey]ledger: {lp}[/]");
            return 0;
        }));
        serve.Add(KeysCommand());
        return serve;
    }

    static Command KeysCommand()
    {
        var file = new Option<string>("--file") { Description = "Keys file to add to (created if missing); pass it to `seek serve --api-keys`.", Required = true };
        var name = new Option<string>("--name") { Description = "A unique name for the key (shown in usage and errors).", Required = true };
        var rpm = new Option<int?>("--rpm") { Description = "Requests per minute to the generation endpoints (default: unlimited)." };
        var budget = new Option<double?>("--budget-usd") { Description = "Spend in USD after which requests get 402 (default: unlimited)." };
        var admin = new Option<bool>("--admin") { Description = "The key may also read /metrics (every key's traffic and cost)." };
        var add = new Command("add", "Create an API key: prints it once and stores only its SHA-256.") { file, name, rpm, budget, admin };
        add.SetAction(p => SeekApp.Guard(() =>
        {
            var key = ApiKeyFile.Add(p.GetValue(file)!, p.GetValue(name)!, p.GetValue(rpm), p.GetValue(budget), p.GetValue(admin));
            var limits = $"{(p.GetValue(rpm) is { } r ? $"{r} requests/min" : "no rate limit")}, {(p.GetValue(budget) is { } b ? $"budget ${b:0.######}" : "no budget")}{(p.GetValue(admin) ? ", admin" : "")}";
            AnsiConsole.MarkupLineInterpolated($"[grey]added key \"{p.GetValue(name)}\" ({limits})[/]");
            AnsiConsole.MarkupLineInterpolated($"[grey]to {p.GetValue(file)}, which keeps only its SHA-256; the key is shown once:[/]");
            Console.WriteLine(key);
            return 0;
        }));
        return new Command("keys", "API keys for `seek serve --api-keys`.") { add };
    }

    internal static Option<string> ModelOption() =>
        new("--model") { Description = "Run or model folder (config.json, model.safetensors, tokenizer.json).", Required = true };

    internal static Option<string> PrecisionOption()
    {
        var o = new Option<string>("--precision") { Description = "Matmul dtype: bf16 or fp32 (weights stay fp32).", DefaultValueFactory = _ => "bf16" };
        o.AcceptOnlyFromAmong("bf16", "fp32");
        return o;
    }

    internal static Option<int> MaxBatchOption() =>
        new("--max-batch") { Description = "Sequences the engine decodes together; more requests queue.", DefaultValueFactory = _ => new EngineOptions().MaxBatchSize };

    internal static Option<string> SpeculativeOption()
    {
        var o = new Option<string>("--speculative") { Description = "on: with a model trained with --mtp-depth, draft a token per step with its MTP module and verify it (same output, fewer steps); off (default; it measured slower on this CPU, decision 0021): plain decoding. No effect without MTP.", DefaultValueFactory = _ => "off" };
        o.AcceptOnlyFromAmong("on", "off");
        return o;
    }

    internal static Option<bool> GroupPrefillOption() =>
        new("--group-prefill") { Description = "Prefill requests that arrive together in padded groups: more tokens/s in bursts, but in bf16 a request's text can then depend on what it arrived with (docs/decisions/0011)." };

    /// <summary>Reads the pricing and keys files before the model loads, so a typo fails in a second.</summary>
    internal static ServerOptions LoadServerOptions(string? pricingPath, string? keysPath)
    {
        if (keysPath is not null)
        {
            ApiKeyFile.Load(keysPath);
            // Replays and compacts the usage journal, and fails here if another server holds it.
            UsageLedger.ForKeysFile(keysPath).DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
        return new ServerOptions { Pricing = pricingPath is null ? Pricing.Default : Pricing.Load(pricingPath), ApiKeysFile = keysPath };
    }

    /// <summary>The --ledger path, checked before the model loads: its folder must exist (the ledger is written at shutdown,
    /// too late to say so).</summary>
    internal static string? LedgerPathOf(string? path)
    {
        if (path is null) return null;
        var dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        if (!Directory.Exists(dir)) throw new SeekSharpException($"--ledger: expected a file in an existing folder, but {dir} does not exist.");
        if (Directory.Exists(path)) throw new SeekSharpException($"--ledger: expected a file path, got the folder {path}.");
        return path;
    }

    /// <summary>Starts Kestrel and returns the base URL it listens on (the real port when asked for 0).</summary>
    internal static string Start(WebApplication app, string host, int port)
    {
        try { app.Start(); }
        catch (IOException e) { throw new SeekSharpException($"--port: cannot listen on {host}:{port} ({e.Message}).", e); }
        return app.Urls.First().Replace("0.0.0.0", "127.0.0.1").Replace("[::]", "[::1]");
    }

    static bool IsLoopback(string host) => host == "localhost" || (IPAddress.TryParse(host, out var a) && IPAddress.IsLoopback(a));

    static void PrintBanner(ServedModel m, ServerOptions o, string url, string precision, int maxBatch, bool loopback)
    {
        var c = m.Engine.Config;
        AnsiConsole.MarkupLineInterpolated($"serving [bold]{m.Id}[/] ({c.NumHiddenLayers} layers, width {c.HiddenSize}, {c.AttentionType}{(c.NRoutedExperts > 0 ? $", MoE {c.NRoutedExperts} experts" : "")}, context {c.MaxPositionEmbeddings}, {precision}, batch up to {maxBatch})");
        var t = new Table().HideHeaders().AddColumns("", "");
        t.AddRow("chat page", $"{url}/");
        t.AddRow("API", $"{url}/v1  (chat/completions, completions, models, usage)");
        t.AddRow("metrics", $"{url}/metrics  (Prometheus{(o.ApiKeysFile is null ? "" : ", admin keys only")}); health: {url}/health");
        t.AddRow("keys", o.ApiKeysFile is { } k ? $"{k}: {ApiKeyFile.Load(k).Count} key(s); spend kept in {k}.usage.json and .usage.journal" : "none: anyone who can reach the port may call the API");
        t.AddRow("ledger", $"{o.Hardware.Name}; per key in /v1/usage \"resources\"" + (o.LedgerPath is { } lp ? $"; written to {lp} on shutdown" : "; no ledger.json (--ledger FILE)"));
        var p = o.Pricing;
        t.AddRow("prices", $"${p.InputCacheHitPerMillion} cache hit / ${p.InputCacheMissPerMillion} cache miss / ${p.OutputPerMillion} output per million tokens");
        AnsiConsole.Write(t);
        if (!loopback && o.ApiKeysFile is null)
            AnsiConsole.MarkupLine("[yellow]warning:[/] listening beyond loopback without --api-keys: the API is open to the network.");
        AnsiConsole.MarkupLine("[grey]Ctrl+C stops the server.[/]");
    }
}
