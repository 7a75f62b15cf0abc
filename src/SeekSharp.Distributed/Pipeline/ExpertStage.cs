using System.Collections.Concurrent;
using System.Diagnostics;
using TorchSharp;
using SeekSharp.Modeling;
using SeekSharp.Training;
using static TorchSharp.torch;

namespace SeekSharp.Distributed.Pipeline;

// An expert process (`--expert-parallel E`, range r ≥ 1): a pipeline "stage" numbered after the real ones that holds one
// range of routed experts of every MoE layer (Transformer.ForStage with an experts-only span: the same weights as the whole
// model from the seed) and nothing else. It serves each stage's stream of calls on its own thread, one computation at a
// time (a lock: the stages' layers are independent, but the gradients accumulate into one set of buffers). A forward keeps
// its input and output until the matching backward, which accumulates the experts' weight gradients and sends the rows'
// gradient back. Once every stage said its step's calls are over, it reports its squared gradient norm like any stage,
// takes the global clipping coefficient and steps its AdamW; checkpoints gather and restore its tensors like a stage's.

public sealed class ExpertStage : IDisposable
{
    readonly StagePlan plan;
    readonly IStageLink link;
    readonly StageSpan span;
    readonly ModelConfig cfg;
    readonly TrainConfig tc;
    readonly Transformer model;
    readonly AdamW optimizer;
    readonly Dictionary<int, MoE> moes;
    readonly object gate = new();
    readonly Dictionary<(int Stage, long Id), (Tensor Input, Tensor Output)> live = [];
    readonly BlockingCollection<int> done = [];
    volatile Exception? failure;

    public ExpertStage(StagePlan plan, IStageLink link)
    {
        (this.plan, this.link) = (plan, link);
        span = plan.Span;
        (cfg, tc, model, optimizer) = PipelineStage.Build(plan);
        moes = model.MoeLayers.ToDictionary(m => m.Layer, m => m.Moe);
    }

    public StageSpan Span => span;

    public void Serve()
    {
        var threads = Enumerable.Range(0, plan.Count).Select(k => new Thread(() => Listen(k)) { IsBackground = true, Name = $"experts-for-stage-{k}" }).ToList();
        foreach (var t in threads) t.Start();
        for (int n = 0; ; n++)
        {
            var cmd = Wire.Json<StageCommand>(link.Receive(Boxes.Command(span.Index, n)));
            switch (cmd.Kind)
            {
                case "step": Step(cmd); break;
                case "eval": break;   // its calls come on the streams
                case "save": lock (gate) link.Send(Boxes.State(span.Index, n), PipelineStage.Pack(model, optimizer, span, cfg.TieWordEmbeddings)); break;
                case "load": lock (gate) PipelineStage.Unpack(link.Receive(Boxes.Load(span.Index)), model, optimizer, span, cfg.TieWordEmbeddings); break;
                case "stop":
                    foreach (var t in threads) t.Join(TimeSpan.FromSeconds(10));
                    return;
                default: throw new SeekSharpException($"stage {span.Index}: unknown command '{cmd.Kind}'.");
            }
        }
    }

    /// <summary>Serves stage <paramref name="stage"/>'s calls in order until it says bye.</summary>
    void Listen(int stage)
    {
        try
        {
            for (long n = 0; ; n++)
            {
                var (call, body) = ExpertWire.Decode(link.Receive(Boxes.ExpertCall(span.Index, stage, n)));
                byte[] reply;
                switch (call.Kind)
                {
                    case "bye": return;
                    case "done": done.Add(stage); reply = []; break;
                    case "f": lock (gate) reply = Forward(stage, call, body); break;
                    case "b": lock (gate) reply = Backward(stage, call, body); break;
                    default: throw new SeekSharpException($"stage {span.Index}: unknown expert call '{call.Kind}'.");
                }
                link.Send(Boxes.ExpertReply(span.Index, stage, n), reply);
            }
        }
        catch (Exception e)
        {
            // Told to the driver at once: the stage waiting for this call's reply would otherwise wait forever (during an
            // evaluation nothing else would notice).
            failure = e;
            try { link.Send(Boxes.Failure(span.Index), System.Text.Encoding.UTF8.GetBytes($"serving stage {stage}'s expert calls: {e.Message}")); } catch (Exception) { }
            done.Add(-1);
        }
    }

    byte[] Forward(int stage, ExpertCall call, byte[] body)
    {
        using var scope = NewDisposeScope();
        var moe = moes.GetValueOrDefault(call.Layer) ?? throw new SeekSharpException($"stage {span.Index}: layer {call.Layer} is not a MoE layer.");
        var dispatch = new ExpertDispatch(call.Counts!, call.Padded!, call.Capacity, call.Batched);
        using var grad = call.Keep ? null : no_grad();
        var x = ExpertWire.Rows(body, cfg.HiddenSize).requires_grad_(call.Keep);
        var y = moe.RunRange(span.Experts!.First, x, dispatch);
        var bytes = Wire.Floats(y.to_type(ScalarType.Float32));
        if (call.Keep) live[(stage, call.Id)] = (x.DetachFromDisposeScope(), y.DetachFromDisposeScope());
        return bytes;
    }

    byte[] Backward(int stage, ExpertCall call, byte[] body)
    {
        using var scope = NewDisposeScope();
        if (!live.Remove((stage, call.Id), out var kept)) throw new SeekSharpException($"stage {span.Index}: backward of an unknown forward {call.Id} from stage {stage}.");
        var (x, y) = kept;
        var g = ExpertWire.Rows(body, cfg.HiddenSize).to_type(y.dtype);
        (y * g).sum().backward();   // d/dy of sum(y · g) is g, exactly
        optimizer.Collect();
        var bytes = Wire.Floats(x.grad!);
        x.Dispose(); y.Dispose();
        return bytes;
    }

    void Step(StageCommand cmd)
    {
        var clock = Stopwatch.StartNew();
        long sent0 = link.BytesSent, received0 = link.BytesReceived;
        for (int k = 0; k < plan.Count; k++)
        {
            int who;
            while (!done.TryTake(out who, 500)) { }
            if (who < 0) throw new SeekSharpException($"stage {span.Index} (experts): {failure?.Message}");
        }
        // Held from the norm to the update: a stage that has stepped may already call for its evaluation or next step,
        // and those calls must see the updated experts.
        StageReport report;
        lock (gate)
        {
            report = new StageReport
            {
                SumSq = PipelineStage.SquaredGradNorm(model, span, cfg.TieWordEmbeddings), StepSeconds = clock.Elapsed.TotalSeconds,
                BytesSent = link.BytesSent - sent0, BytesReceived = link.BytesReceived - received0, PeakRss = Process.GetCurrentProcess().PeakWorkingSet64,
            };
            PipelineStage.ReportAndStep(link, span.Index, cmd, report, optimizer);
        }
        PipelineStage.CheckPeak(plan, report);
    }

    public void Dispose()
    {
        foreach (var (x, y) in live.Values) { x.Dispose(); y.Dispose(); }
        optimizer.Dispose();
        model.Dispose();
    }
}
