using Microsoft.Extensions.Logging;
using SeekSharp.Server;
using SeekSharp.Serving;
using static SeekSharp.Tests.Server.TestServing;

namespace SeekSharp.Tests.Server;

/// <summary>The real engine on a tiny random-weight model folder (Alignment/ChatModelFolder: MLA + MoE, context 64).</summary>
static class RealModel
{
    /// <summary>Loads a saved folder the way `seek serve` does, with the id "tiny".</summary>
    public static ServedModel Serve(string dir, int maxBatch = 4) =>
        ServedModel.Load(dir, ModelId, "cpu", "fp32", new EngineOptions { MaxBatchSize = maxBatch });

    /// <summary>Kestrel on a free loopback port, as `seek serve --port 0` runs it; returns the base URL.</summary>
    public static async Task<(Microsoft.AspNetCore.Builder.WebApplication App, string Url)> StartKestrel(ServedModel served, ServerOptions? options = null)
    {
        var app = SeekServer.Build(served, options ?? new ServerOptions(), "127.0.0.1", 0, l => l.ClearProviders());
        await app.StartAsync();
        return (app, app.Urls.Single());
    }
}
