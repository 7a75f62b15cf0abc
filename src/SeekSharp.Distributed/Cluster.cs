using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;
using Orleans.Hosting;

namespace SeekSharp.Distributed;

// How the hub's silo and the workers' clients find each other. One machine: localhost clustering, the hub's gateway
// on 127.0.0.1:PORT (its silo-to-silo port is PORT + 1). Other machines without Redis: the worker names the hub's
// gateway (`--hub HOST:PORT`, static gateway list) and the hub listens on `--host ADDR`. With `--cluster
// redis://HOST:PORT` membership lives in Redis: the silo registers there and clients read the gateways from it.
// Orleans' own logs are off: the console stays the command's, and every failure that matters reaches it as an
// exception the hub or worker turns into one line.

public static class Cluster
{
    public const string ClusterId = "seeksharp-diloco", ServiceId = "seeksharp";
    public const string GrainKey = "run";

    /// <summary>"redis://HOST:PORT" as StackExchange.Redis's connection string "HOST:PORT".</summary>
    public static string RedisConnection(string url)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out var u) || u.Scheme != "redis" || u.Port <= 0)
            throw new SeekSharpException($"--cluster: expected redis://HOST:PORT, got '{url}'.");
        return $"{u.Host}:{u.Port}";
    }

    public static IPEndPoint ParseEndpoint(string hub, string flag)
    {
        int colon = hub.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(hub[(colon + 1)..], out int port) || port is <= 0 or > 65535)
            throw new SeekSharpException($"{flag}: expected HOST:PORT, got '{hub}'.");
        var host = hub[..colon].Trim('[', ']');
        if (!IPAddress.TryParse(host, out var ip))
        {
            try { ip = Dns.GetHostAddresses(host).First(a => a.AddressFamily == AddressFamily.InterNetwork); }
            catch (Exception e) when (e is SocketException or InvalidOperationException) { throw new SeekSharpException($"{flag}: cannot resolve host '{host}'."); }
        }
        return new IPEndPoint(ip, port);
    }

    /// <summary>One `error:` line when the hub's ports are taken, before Orleans starts (its own failure is a stack of logs).</summary>
    /// <param name="role">What listens, for the message: the DiLoCo hub (workers join it) or the pipeline driver (stages do).</param>
    public static void CheckPortsFree(IPAddress address, int port, string role = "the hub", string clients = "workers")
    {
        foreach (var p in new[] { port, port + 1 })
        {
            var listener = new TcpListener(address, p);
            try { listener.Start(); }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.AddressAlreadyInUse or SocketError.AccessDenied)
            {
                throw new SeekSharpException($"--port {port}: {address}:{p} is already in use ({role} takes PORT for {clients} and PORT + 1 for its silo); choose another --port.");
            }
            finally { listener.Stop(); }
        }
    }

    public static IHost BuildSilo(IPAddress address, int port, string? cluster, Coordinator coordinator) =>
        BuildSilo(address, port, cluster, services => services.AddSingleton(coordinator));

    /// <param name="services">Registers the state the silo's grains are given (the DiLoCo coordinator, the pipeline's mailbox).</param>
    public static IHost BuildSilo(IPAddress address, int port, string? cluster, Action<IServiceCollection> services)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        Quiet(builder.Logging);
        services(builder.Services);
        // --host 0.0.0.0 listens on every address and advertises this machine's first non-loopback IPv4 (the address
        // other silos and Redis readers are told); a concrete --host is both.
        bool any = address.Equals(IPAddress.Any);
        var advertised = any ? Dns.GetHostAddresses(Dns.GetHostName()).FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork && !IPAddress.IsLoopback(a))
            ?? IPAddress.Loopback : address;
        builder.UseOrleans(silo =>
        {
            if (cluster is not null)
            {
                silo.UseRedisClustering(RedisConnection(cluster));
                silo.ConfigureEndpoints(advertised, port + 1, port, listenOnAnyHostAddress: any);
            }
            else if (IPAddress.IsLoopback(address)) silo.UseLocalhostClustering(siloPort: port + 1, gatewayPort: port, serviceId: ServiceId, clusterId: ClusterId);
            else
            {
                silo.UseDevelopmentClustering(new IPEndPoint(advertised, port + 1));
                silo.ConfigureEndpoints(advertised, port + 1, port, listenOnAnyHostAddress: any);
            }
            silo.Configure<ClusterOptions>(o => { o.ClusterId = ClusterId; o.ServiceId = ServiceId; });
            silo.Configure<SiloMessagingOptions>(o => o.ResponseTimeout = TimeSpan.FromSeconds(30));
        });
        return builder.Build();
    }

    public static IHost BuildClient(IPEndPoint? hub, string? cluster, TimeSpan callTimeout)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        Quiet(builder.Logging);
        builder.UseOrleansClient(client =>
        {
            if (cluster is not null) client.UseRedisClustering(RedisConnection(cluster));
            else client.UseStaticClustering(hub ?? throw new SeekSharpException("--hub: required without --cluster."));
            client.Configure<ClusterOptions>(o => { o.ClusterId = ClusterId; o.ServiceId = ServiceId; });
            client.Configure<ClientMessagingOptions>(o => o.ResponseTimeout = callTimeout);
            // Our own loop reconnects with backoff (Worker.cs); the client's first connect fails fast instead of waiting.
            client.UseConnectionRetryFilter((_, _) => Task.FromResult(false));
        });
        return builder.Build();
    }

    static void Quiet(ILoggingBuilder logging) => logging.ClearProviders();
}
