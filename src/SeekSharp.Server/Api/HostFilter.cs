using System.Net;
using Microsoft.AspNetCore.Http;

namespace SeekSharp.Server.Api;

// DNS rebinding: a page on evil.example re-points its own name at 127.0.0.1 and then calls the loopback
// server from the user's browser as a same-origin request, with "Host: evil.example". Answering only Host
// names that are loopback (localhost, 127.x.x.x, [::1], any port) or that the user named with --host
// refuses every such request. A wildcard --host (0.0.0.0, ::) asks for the server to be reached from the
// network under names it cannot know (host names, mDNS, proxies), so it accepts any Host; a request
// without a Host (HTTP/1.0; no browser sends one) is let through.

/// <summary>Middleware: 421 with OpenAI's error object for a Host header the server was not started for.</summary>
public sealed class HostFilter(RequestDelegate next, ServerOptions options)
{
    public const string AnyHost = "*";

    public Task InvokeAsync(HttpContext ctx)
    {
        if (Allowed(ctx.Request.Host, options.AllowedHosts)) return next(ctx);
        throw new ApiException(421, $"Host '{ctx.Request.Host.Host}' is not served here: this server answers loopback names" +
            $"{(options.AllowedHosts.Count > 0 ? " and " + string.Join(", ", options.AllowedHosts) : "")} (start it with --host to add an address).",
            param: null, code: "host_not_allowed");
    }

    public static bool Allowed(HostString host, IReadOnlyList<string> extra)
    {
        if (!host.HasValue || extra.Contains(AnyHost)) return true;
        var name = host.Host.TrimEnd('.');
        if (name.Equals("localhost", StringComparison.OrdinalIgnoreCase)) return true;
        var ip = IPAddress.TryParse(name.Trim('[', ']'), out var a) ? a : null;
        if (ip is not null && IPAddress.IsLoopback(ip)) return true;
        foreach (var e in extra)
        {
            if (e.Equals(name, StringComparison.OrdinalIgnoreCase)) return true;
            if (ip is not null && IPAddress.TryParse(e.Trim('[', ']'), out var x) && x.Equals(ip)) return true;
        }
        return false;
    }

    /// <summary>The names to accept besides loopback for a server listening on <paramref name="listen"/> (--host).</summary>
    public static IReadOnlyList<string> ForListenAddress(string listen)
    {
        if (listen == "localhost") return [];
        if (!IPAddress.TryParse(listen, out var a)) return [listen];
        if (a.Equals(IPAddress.Any) || a.Equals(IPAddress.IPv6Any)) return [AnyHost];
        return IPAddress.IsLoopback(a) ? [] : [listen];
    }
}
