using SeekSharp.Checkpoints;
using SeekSharp.Modeling;
using SeekSharp.Server;
using SeekSharp.Serving;
using SeekSharp.Tests.Modeling;
using static SeekSharp.Tests.Server.TestServing;

namespace SeekSharp.Tests.Server;

/// <summary>A tiny random-weight model folder (MLA + MoE, context 64, the shared test tokenizer), served by the real engine.</summary>
static class RealModel
{
    public static string SaveFolder(string dir)
    {
        using var m = new Transformer(TestModels.Mla() with { VocabSize = Tok.VocabSize, MaxPositionEmbeddings = 64 });
        ModelFiles.Save(dir, m);
        Tok.Save(dir);
        return dir;
    }

    /// <summary>Loads a saved folder the way `seek serve` does, with the id "tiny".</summary>
    public static ServedModel Serve(string dir, int maxBatch = 4) =>
        ServedModel.Load(dir, ModelId, "cpu", "bf16", new EngineOptions { MaxBatchSize = maxBatch });

    /// <summary>Kestrel on a free loopback port, as `seek serve --port 0` runs it; returns the base URL.</summary>
    public static async Task<(Microsoft.AspNetCore.Builder.WebApplication App, string Url)> StartKestrel(ServedModel served, ServerOptions? options = null)
    {
        var app = SeekServer.Build(served, options ?? new ServerOptions(), "127.0.0.1", 0);
        await app.StartAsync();
        return (app, app.Urls.Single());
    }
}
