using System.Diagnostics;
using SeekSharp.Server.Api;
using SeekSharp.Server.Auth;
using SeekSharp.Server.Billing;
using SeekSharp.Server.Metrics;

namespace SeekSharp.Server.Generation;

/// <summary>Prices a finished job and books it to its caller and to the metrics, whether or not the client stayed.</summary>
public sealed class Accounting(UsageLedger ledger, ServerMetrics metrics, Pricing pricing, ServingLedger serving)
{
    public Pricing Pricing => pricing;

    /// <summary>Completes with the job's usage once it is booked; runs to the end even if the client goes away.</summary>
    public Task<ApiUsage> Settle(GenerationJob job, ApiCaller caller, long startedTimestamp)
    {
        var task = SettleAsync(job, caller, startedTimestamp);
        // The endpoint reports a failed job itself (or its client left): observe the fault here so it is not "unobserved".
        task.ContinueWith(t => _ = t.Exception, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously);
        return task;
    }

    async Task<ApiUsage> SettleAsync(GenerationJob job, ApiCaller caller, long startedTimestamp)
    {
        var result = await job.Completion;
        var usage = ApiUsage.From(result.Choices, pricing);
        serving.AddGeneration(caller.Name, usage);
        await ledger.AddAsync(caller.Name, usage);   // durable before the response ends (UsageLedger)
        metrics.ObserveGeneration(Stopwatch.GetElapsedTime(startedTimestamp).TotalSeconds, job.TimeToFirstToken, usage);
        return usage;
    }
}
