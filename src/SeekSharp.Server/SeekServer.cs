using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using SeekSharp.Server.Api;
using SeekSharp.Server.Auth;
using SeekSharp.Server.Billing;
using SeekSharp.Server.Endpoints;
using SeekSharp.Server.Generation;
using SeekSharp.Server.Metrics;

namespace SeekSharp.Server;

// The same two calls configure the real Kestrel host (`seek serve`, the benchmark, the SDK test) and the
// in-memory test host (WebApplicationFactory), so tests exercise exactly what users run. Middleware order:
// bytes are counted outside everything (TrafficMeter), metrics see the final status of everything, errors are shaped before that, the Host check comes first
// of all else, routing runs before the key gate so the gate meters by endpoint and unknown paths are still
// authenticated under /v1.

/// <summary>Builds the OpenAI-compatible server around a <see cref="ServedModel"/>.</summary>
public static class SeekServer
{
    /// <summary>Registers the server's services. Loads the keys file (and its usage ledger) if one is given.</summary>
    public static IServiceCollection AddSeekServer(this IServiceCollection services, ServedModel model, ServerOptions options)
    {
        var keys = options.ApiKeysFile is { } path ? ApiKeyRegistry.Load(path) : null;
        var ledger = options.ApiKeysFile is { } p2 ? UsageLedger.ForKeysFile(p2) : UsageLedger.InMemory();
        var metrics = new ServerMetrics();
        var serving = new ServingLedger(model.Engine.Config, options.Hardware);
        services.AddRouting();
        services.AddSingleton(model);
        services.AddSingleton(options);
        services.AddSingleton(ledger);
        services.AddSingleton(metrics);
        services.AddSingleton(serving);
        services.AddSingleton(new Accounting(ledger, metrics, options.Pricing, serving));
        services.AddSingleton(new KeyRing(keys));
        services.AddHostedService<UsageLedgerFlusher>();
        services.AddHostedService<ServingLedgerWriter>();
        return services;
    }

    public static IApplicationBuilder UseSeekServer(this IApplicationBuilder app)
    {
        app.UseMiddleware<TrafficMeter>();
        app.UseMiddleware<RequestCounter>();
        app.UseMiddleware<ApiErrorMiddleware>();
        app.UseMiddleware<HostFilter>();
        app.UseRouting();
        app.UseMiddleware<ApiKeyGate>();
        app.UseEndpoints(e =>
        {
            e.MapChatApi();
            e.MapCompletionApi();
            e.MapModelApi();
            e.MapUsageApi();
            e.MapMetrics();
            e.MapPage();
        });
        return app;
    }

    /// <summary>A Kestrel server on <paramref name="host"/>:<paramref name="port"/> (0 = any free port); start it with StartAsync.
    /// <paramref name="logging"/> adjusts the console logging (warnings and up by default).</summary>
    public static WebApplication Build(ServedModel model, ServerOptions options, string host, int port, Action<ILoggingBuilder>? logging = null)
    {
        if (!IPAddress.TryParse(host, out var address) && host != "localhost")
            throw new SeekSharpException($"--host: expected an IP address such as 127.0.0.1 or 0.0.0.0, got \"{host}\".");
        if (port is < 0 or > 65535) throw new SeekSharpException($"--port: expected 0..65535, got {port}.");
        if (options.AllowedHosts.Count == 0) options = options with { AllowedHosts = HostFilter.ForListenAddress(host) };
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        logging?.Invoke(builder.Logging);
        builder.WebHost.ConfigureKestrel(k =>
        {
            // Kestrel's own limit is a backstop above ours, so an oversized body gets our 400 error object.
            k.Limits.MaxRequestBodySize = options.MaxBodyBytes + 1024L;
            if (address is null) k.ListenLocalhost(port);
            else k.Listen(address, port);
        });
        builder.Services.AddSeekServer(model, options);
        var app = builder.Build();
        app.UseSeekServer();
        return app;
    }
}
