using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace SeekSharp.Server.Api;

// The outermost handler: an ApiException becomes its status and error object; Kestrel's own bad-request
// errors (a body over the limit, a broken chunked encoding) become a 400 of the same shape; anything else
// is a bug, logged with its stack and answered with a 500 that does not leak internals. A client that went
// away is not an error. Routing answers an unknown path (404) or method (405) with an empty body; those get
// the error object too, so every answer of this server that is not a success has OpenAI's shape.

/// <summary>Middleware: turns exceptions into OpenAI error responses.</summary>
public sealed class ApiErrorMiddleware(RequestDelegate next, ILogger<ApiErrorMiddleware> log)
{
    public async Task InvokeAsync(HttpContext ctx)
    {
        try
        {
            await next(ctx);
            if (!ctx.Response.HasStarted && ctx.Response.ContentType is null && ctx.Response.StatusCode is 404 or 405)
                await (ctx.Response.StatusCode == 404
                    ? new ApiException(404, $"Unknown path '{ctx.Request.Path}': this server has /v1/chat/completions, /v1/completions, /v1/models, /v1/usage, /health, /metrics and the chat page at /.", code: "not_found")
                    : new ApiException(405, $"Method {ctx.Request.Method} is not allowed on '{ctx.Request.Path}' (allowed: {ctx.Response.Headers.Allow}).", code: "method_not_allowed"))
                    .WriteAsync(ctx.Response);
        }
        catch (ApiException e) when (!ctx.Response.HasStarted) { await e.WriteAsync(ctx.Response); }
        catch (BadHttpRequestException e) when (!ctx.Response.HasStarted)
        {
            await new ApiException(400, e.Message, code: e.StatusCode == 413 ? "request_too_large" : "invalid_request").WriteAsync(ctx.Response);
        }
        catch (OperationCanceledException) when (ctx.RequestAborted.IsCancellationRequested) { }
        catch (Exception e) when (!ctx.Response.HasStarted)
        {
            log.LogError(e, "unhandled error in {Method} {Path}", ctx.Request.Method, ctx.Request.Path);
            await new ApiException(500, "The server had an error while processing your request.", type: "server_error", code: "internal_error").WriteAsync(ctx.Response);
        }
    }
}
