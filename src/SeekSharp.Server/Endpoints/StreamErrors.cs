using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using SeekSharp.Server.Api;

namespace SeekSharp.Server.Endpoints;

/// <summary>An error that happens after a stream started: logged, and sent to the client as an error event.</summary>
static class StreamErrors
{
    public static ApiException From(Exception e, HttpContext ctx)
    {
        if (e is ApiException api) return api;
        ctx.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("SeekSharp.Server").LogError(e, "generation failed mid-stream");
        return new ApiException(500, "The server had an error while generating this response.", type: "server_error", code: "internal_error");
    }
}
