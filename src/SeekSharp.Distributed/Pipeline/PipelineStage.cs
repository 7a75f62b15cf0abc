using System.Diagnostics;
using System.Text.Json;
using TorchSharp;
using SeekSharp.Modeling;
using SeekSharp.Training;
using static TorchSharp.torch;

namespace SeekSharp.Distributed.Pipeline;

// One pipeline stage: its part of the model (Transformer.ForStage), AdamW over that part alone, and a loop over the
// driver's commands. A step runs the schedule's ops: a forward takes the micro-batch's input (token ids on the first
// stage, the previous stage's activations otherwise), keeps its graph alive and sends its output on; a backward takes
// the output's gradient, runs backward through the kept graph and sends the input's gradient back. The loss is the last
// stage's mean cross-entropy over the micro-batch divided by M, and each stage's balance loss is divided by M too, so
// the accumulated gradient is one batch's, as TrainStep's with grad_accum M. Clipping needs the global norm: each stage
// sends its squared norm, the driver sends back the one coefficient. With tied embeddings the first and last stage
// swap their gradients of the embedding matrix and both add them (a + b = b + a exactly), so their copies stay equal.

public sealed record StagePlan
{
    public required int Index { get; init; }
    public required int Count { get; init; }
    public required int FirstLayer { get; init; }
    public required int EndLayer { get; init; }
    public required string ModelConfigJson { get; init; }
    public required string TrainConfigJson { get; init; }
    public required int MicroBatches { get; init; }
    public required int SeqLen { get; init; }
    public required string Schedule { get; init; }
    /// <summary>Bytes of peak RSS the stage may reach; 0 = no limit.</summary>
    public long MaxMemory { get; init; }
    public int Threads { get; init; }
    /// <summary>Routed-expert ranges (--expert-parallel); 1 = every stage holds all its layers' experts.</summary>
    public int ExpertParallel { get; init; } = 1;
    /// <summary>0 on a pipeline stage; r ≥ 1 on the expert process of range r (numbered Count + r - 1).</summary>
    public int ExpertRange { get; init; }
    public int RoutedExperts { get; init; }
    public StageSpan Span => new(Index, Count, FirstLayer, EndLayer)
    {
        Experts = ExpertParallel > 1 ? new ExpertSlice(ExpertRange, ExpertParallel, RoutedExperts) : null, ExpertsOnly = ExpertRange > 0,
    };
}

public sealed record StageCommand(string Kind, int Step = 0, double Lr = 0, int Rows = 0, int Batches = 0, string Tag = "");

public sealed record StageReport
{
    public double Loss { get; init; }
    public double Aux { get; init; }
    public double SumSq { get; init; }
    public Dictionary<int, long[]> Load { get; init; } = [];
    public double IdleSeconds { get; init; }
    public double StepSeconds { get; init; }
    public long BytesSent { get; init; }
    public long BytesReceived { get; init; }
    public long PeakRss { get; init; }
    public int MaxLive { get; init; }
    /// <summary>Per MoE layer: bytes sent to and received from the expert processes this step.</summary>
    public Dictionary<int, long[]> ExpertBytes { get; init; } = [];
}

public sealed record ClipMessage(double Coef);

public sealed record EvalReport(double Nats, long Tokens);

public sealed class PipelineStage : IDisposable
{
    readonly StagePlan plan;
    readonly IStageLink link;
    readonly StageSpan span;
    readonly ModelConfig cfg;
    readonly TrainConfig tc;
    readonly Transformer model;
    readonly AdamW optimizer;
    readonly bool tied;
    readonly IReadOnlyList<(int Layer, Gate Gate)> gates;
    readonly ExpertExchange? exchange;
    double idle;

    public PipelineStage(StagePlan plan, IStageLink link)
    {
        (this.plan, this.link) = (plan, link);
        span = plan.Span;
        (cfg, tc, model, optimizer) = Build(plan);
        tied = cfg.TieWordEmbeddings;
        gates = model.Gates.Where(g => g.Layer >= span.FirstLayer && g.Layer < span.EndLayer).ToList();
        if (plan.ExpertParallel > 1)
        {
            exchange = new ExpertExchange(link, span.Index, span.Count, plan.ExpertParallel);
            foreach (var (layer, moe) in model.MoeLayers)
                if (layer >= span.FirstLayer && layer < span.EndLayer) moe.Distribute(layer, plan.ExpertParallel, exchange);
        }
    }

    public StageSpan Span => span;

    /// <summary>Runs the driver's commands until it says stop.</summary>
    public void Serve()
    {
        for (int n = 0; ; n++)
        {
            var cmd = Wire.Json<StageCommand>(link.Receive(Boxes.Command(span.Index, n)));
            switch (cmd.Kind)
            {
                case "step": Step(cmd); break;
                case "eval": Evaluate(cmd); break;
                case "save": link.Send(Boxes.State(span.Index, n), Pack(model, optimizer, span, tied)); break;
                case "load": Unpack(link.Receive(Boxes.Load(span.Index)), model, optimizer, span, tied); break;
                case "stop": exchange?.Bye(); return;
                default: throw new SeekSharpException($"stage {span.Index}: unknown command '{cmd.Kind}'.");
            }
        }
    }

    byte[] Take(string box)
    {
        var sw = Stopwatch.StartNew();
        var b = link.Receive(box);
        idle += sw.Elapsed.TotalSeconds;
        return b;
    }

    sealed record Live(Tensor Input, Tensor Output, Tensor? Aux);

    void Step(StageCommand cmd)
    {
        var clock = Stopwatch.StartNew();
        idle = 0;
        long sent0 = link.BytesSent, received0 = link.BytesReceived;
        string tag = cmd.Step.ToString();
        int micro = plan.MicroBatches, rows = cmd.Rows;
        var scale = Native.Scalars.Of(micro);
        foreach (var (_, g) in gates) g.ResetLoad();
        var live = new Dictionary<int, Live>();
        double loss = 0, aux = 0;
        int maxLive = 0;
        foreach (var op in PipelinePlan.Ops(plan.Schedule, span.Index, span.Count, micro))
        {
            using var scope = NewDisposeScope();
            int m = op.Micro;
            if (op.Kind == PipelineOpKind.Forward)
            {
                var input = span.IsFirst ? tensor(Wire.Longs(Take(Boxes.Input(tag, m))), [rows, plan.SeqLen])
                    : Wire.Floats(Take(Boxes.Activation(span.Index, tag, m)), [rows, plan.SeqLen, cfg.HiddenSize]).requires_grad_(true);
                var (output, a) = model.ForwardStage(input, span);
                var scaledAux = a is null ? null : a / scale;
                if (scaledAux is not null) aux += scaledAux.item<float>();
                if (span.IsLast)
                {
                    var y = tensor(Wire.Longs(Take(Boxes.Target(tag, m))));
                    var l = nn.functional.cross_entropy(output.view(-1, cfg.VocabSize), y) / scale;
                    loss += l.item<float>();
                    output = l;
                }
                else link.Send(Boxes.Activation(span.Index + 1, tag, m), Wire.Floats(output));
                live[m] = new Live(input.DetachFromDisposeScope(), output.DetachFromDisposeScope(), scaledAux?.DetachFromDisposeScope());
                maxLive = Math.Max(maxLive, live.Count);
            }
            else
            {
                var (input, output, a) = live[m];
                live.Remove(m);
                Tensor objective;
                if (span.IsLast) objective = output;
                else
                {
                    // d/d(output) of sum(output · g) is g: the next stage's gradient, exactly.
                    var g = Wire.Floats(Take(Boxes.Gradient(span.Index, tag, m)), output.shape);
                    objective = (output * g).sum();
                }
                if (a is not null) objective = objective + a;
                objective.backward();
                optimizer.Collect();
                if (!span.IsFirst) link.Send(Boxes.Gradient(span.Index - 1, tag, m), Wire.Floats(input.grad!));
                input.Dispose(); output.Dispose(); a?.Dispose();
            }
        }
        using (NewDisposeScope()) SwapTiedGradients(cmd.Step);
        exchange?.Done(cmd.Step);
        var report = new StageReport
        {
            Loss = loss, Aux = aux, SumSq = SquaredGradNorm(model, span, tied), ExpertBytes = exchange?.TakeBytes() ?? [], Load = gates.ToDictionary(g => g.Layer, g => g.Gate.Load),
            IdleSeconds = idle, StepSeconds = clock.Elapsed.TotalSeconds, BytesSent = link.BytesSent - sent0,
            BytesReceived = link.BytesReceived - received0, PeakRss = Process.GetCurrentProcess().PeakWorkingSet64, MaxLive = maxLive,
        };
        ReportAndStep(link, span.Index, cmd, report, optimizer);
        foreach (var (_, g) in gates) g.UpdateBias(tc.BiasUpdateSpeed);
        CheckPeak(plan, report);
    }

    void SwapTiedGradients(int step)
    {
        if (!tied || span.Count == 1 || !(span.IsFirst || span.IsLast)) return;
        var p = model.named_parameters().First(n => n.name == "model.embed_tokens.weight").parameter;
        var own = p.grad ?? throw new SeekSharpException($"stage {span.Index}: the embedding has no gradient.");
        link.Send(Boxes.Tied(span.IsFirst ? span.Count - 1 : 0, step), Wire.Floats(own));
        using var other = Wire.Floats(Take(Boxes.Tied(span.Index, step)), own.shape);
        using (no_grad()) own.add_(other);
    }

    /// <summary>What a process of the pipeline (a stage, an expert process) holds, from its plan: the model config, the
    /// training config, its part of the model (built the ForStage way, in training precision) and its AdamW.</summary>
    internal static (ModelConfig Cfg, TrainConfig Tc, Transformer Model, AdamW Optimizer) Build(StagePlan plan)
    {
        var cfg = ModelConfig.FromJson(plan.ModelConfigJson, $"stage {plan.Index}: model config");
        var tc = JsonSerializer.Deserialize<TrainConfig>(plan.TrainConfigJson, TrainConfig.Json)!.Validate();
        var model = Transformer.ForStage(cfg, tc.Seed, plan.Span);
        model.to(new Device(tc.Device));
        TrainingPrecision.Apply(model, tc.Precision);
        model.train();
        return (cfg, tc, model, AdamW.Flat(model, tc));
    }

    /// <summary>Stops the process once its peak RSS passed --max-memory (the figure the step's report carries).</summary>
    internal static void CheckPeak(StagePlan plan, StageReport report)
    {
        if (plan.MaxMemory > 0 && report.PeakRss > plan.MaxMemory)
            throw new SeekSharpException($"stage {plan.Span.Index}: peak RSS {report.PeakRss:N0} B passed --max-memory {plan.MaxMemory:N0} B ({plan.Span}).");
    }

    /// <summary>The end of a step on every process that holds parameters (a stage, an expert process): send the step's
    /// report, take the driver's clip coefficient (global norm), scale the gradients, take the AdamW step.</summary>
    internal static void ReportAndStep(IStageLink link, int stage, StageCommand cmd, StageReport report, AdamW optimizer)
    {
        link.Send(Boxes.Report(stage, cmd.Step), Wire.Json(report));
        var clip = Wire.Json<ClipMessage>(link.Receive(Boxes.Clip(stage, cmd.Step)));
        if (clip.Coef < 1)
            using (no_grad())
            using (Scalar coef = clip.Coef.ToScalar()) // alive through every call (Native/Scalars.cs says why)
                foreach (var p in optimizer.Parameters)
                    p.grad?.mul_(coef);
        optimizer.Update(cmd.Lr);
        optimizer.ZeroGrad();
    }

    internal static double SquaredGradNorm(Transformer model, StageSpan span, bool tied)
    {
        using var scope = NewDisposeScope();
        double sq = 0;
        foreach (var (name, p) in model.named_parameters())
            if (p.requires_grad && p.grad is { } g && !span.IsTiedCopy(name, tied))
                sq += g.to_type(ScalarType.Float64).square().sum().item<double>();
        return sq;
    }

    void Evaluate(StageCommand cmd)
    {
        using var _ = no_grad();
        double nats = 0;
        long tokens = 0;
        for (int i = 0; i < cmd.Batches; i++)
        {
            using var scope = NewDisposeScope();
            var input = span.IsFirst ? tensor(Wire.Longs(link.Receive(Boxes.Input(cmd.Tag, i))), [cmd.Rows, plan.SeqLen])
                : Wire.Floats(link.Receive(Boxes.Activation(span.Index, cmd.Tag, i)), [cmd.Rows, plan.SeqLen, cfg.HiddenSize]);
            var (output, _) = model.ForwardStage(input, span);
            if (!span.IsLast) { link.Send(Boxes.Activation(span.Index + 1, cmd.Tag, i), Wire.Floats(output)); continue; }
            var y = tensor(Wire.Longs(link.Receive(Boxes.Target(cmd.Tag, i))));
            nats += nn.functional.cross_entropy(output.view(-1, cfg.VocabSize), y, reduction: nn.Reduction.Sum).item<float>();
            tokens += y.numel();
        }
        if (span.IsLast) link.Send(Boxes.EvalReport(cmd.Tag), Wire.Json(new EvalReport(nats, tokens)));
    }

    /// <summary>This stage's weights and buffers (state_dict names) and AdamW moments ("name.exp_avg"...), packed.</summary>
    internal static byte[] Pack(Transformer model, AdamW optimizer, StageSpan span, bool tied)
    {
        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (name, t) in model.state_dict())
            if (span.Holds(name, tied)) tensors[name] = t;
        var moments = optimizer.StateTensors();
        foreach (var (name, t) in moments) tensors[name] = t;
        return Wire.Pack(tensors, new Dictionary<string, string> { ["step"] = optimizer.Step.ToString(), ["started"] = optimizer.StartedCount.ToString() });
    }

    internal static void Unpack(byte[] packed, Transformer model, AdamW optimizer, StageSpan span, bool tied)
    {
        var (tensors, meta) = Wire.Unpack(packed);
        try
        {
            var weights = model.state_dict();
            using (no_grad())
                foreach (var (name, t) in weights)
                {
                    if (!span.Holds(name, tied)) continue;
                    if (!tensors.TryGetValue(name, out var saved)) throw new SeekSharpException($"stage {span.Index}: the checkpoint has no tensor '{name}'.");
                    t.copy_(saved);
                }
            var moments = tensors.Where(kv => kv.Key.EndsWith(".exp_avg", StringComparison.Ordinal) || kv.Key.EndsWith(".exp_avg_sq", StringComparison.Ordinal))
                .ToDictionary(kv => kv.Key, kv => kv.Value);
            optimizer.LoadState(moments, long.Parse(meta["step"]), $"stage {span.Index}", int.Parse(meta["started"]));
        }
        finally { foreach (var t in tensors.Values) t.Dispose(); }
    }

    public void Dispose()
    {
        optimizer.Dispose();
        model.Dispose();
    }
}
