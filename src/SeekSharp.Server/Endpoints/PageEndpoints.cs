using System.Reflection;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace SeekSharp.Server.Endpoints;

/// <summary>The chat page at / and its script and style, served from resources embedded in the assembly.</summary>
public static class PageEndpoints
{
    static readonly (string Path, string Resource, string ContentType)[] Files =
    [
        ("/", "index.html", "text/html; charset=utf-8"),
        ("/app.js", "app.js", "text/javascript; charset=utf-8"),
        ("/style.css", "style.css", "text/css; charset=utf-8"),
    ];

    public static void MapPage(this IEndpointRouteBuilder app)
    {
        foreach (var (path, resource, type) in Files)
        {
            var bytes = Load(resource);
            app.MapGet(path, (HttpContext ctx) =>
            {
                ctx.Response.ContentType = type;
                ctx.Response.Headers.CacheControl = "no-cache";
                return ctx.Response.Body.WriteAsync(bytes).AsTask();
            });
        }
    }

    static byte[] Load(string name)
    {
        using var s = Assembly.GetExecutingAssembly().GetManifestResourceStream("SeekSharp.Server.Page." + name)
            ?? throw new InvalidOperationException($"embedded page file {name} is missing");
        using var m = new MemoryStream();
        s.CopyTo(m);
        return m.ToArray();
    }
}
