using System.Diagnostics;
using System.Text.Json;
using SeekSharp.Checkpoints;
using SeekSharp.Data;
using SeekSharp.Modeling;
using SeekSharp.Training;
using static TorchSharp.torch;

namespace SeekSharp.Distributed.Pipeline;

// The driver's side of a pipeline run, plugged into Pretrainer.Run (the one pretraining loop: schedule, metrics,
// checkpoints, resume, ledger). Per step it draws the whole batch as `seek base train --grad-accum 1` would (seed of
// (step, micro 0)), cuts it into M micro-batches of rows, sends the ids to the first stage and the targets to the last,
// collects every stage's report, takes the global gradient norm and sends back the clipping coefficient. It holds no
// weights: a checkpoint is gathered from the stages (each sends its tensors and moments) and written as an ordinary
// model folder with optimizer.safetensors; a resume sends each stage its part of one, whatever S wrote it.

public sealed class PipelineEngine : IPretrainEngine
{
    readonly IStageLink link;
    readonly StagePlan[] plans;
    readonly TrainConfig tc;
    readonly int seqLen, micro, rows, stages, pipeline, ranges;   // stages: every process (pipeline stages, then expert processes)
    readonly int[] commands;
    readonly long[] inputs, targets;
    int evals;
    StageReport[] last = [];
    readonly Dictionary<string, Ledger.LedgerNetworkPeer> peers = [];

    public ModelConfig Config { get; }
    public int TokensPerStep => tc.BatchSize * seqLen;

    /// <summary>Stage reports of the last step, by stage.</summary>
    public IReadOnlyList<StageReport> LastReports => last;

    public PipelineEngine(IStageLink link, IReadOnlyList<StagePlan> plans, ModelConfig cfg, TrainConfig tc, int seqLen)
    {
        (this.link, this.plans, this.tc, this.seqLen, Config) = (link, plans.ToArray(), tc, seqLen, cfg);
        stages = plans.Count;
        pipeline = plans.Count(p => p.ExpertRange == 0);
        ranges = plans[0].ExpertParallel;
        micro = plans[0].MicroBatches;
        rows = tc.BatchSize / micro;
        commands = new int[stages];
        inputs = new long[tc.BatchSize * seqLen];
        targets = new long[tc.BatchSize * seqLen];
    }

    /// <summary>The stages' plans: layer spans, with the run's configs.</summary>
    /// <remarks>With <paramref name="expertParallel"/> E &gt; 1 the plans of the E - 1 expert processes follow the stages':
    /// each holds one range of routed experts of every layer.</remarks>
    public static StagePlan[] Plans(StageSpan[] spans, ModelConfig cfg, TrainConfig tc, int seqLen, int micro, string schedule, long maxMemory, int threads,
        int expertParallel = 1)
    {
        StagePlan Plan(int index, int first, int end, int range) => new()
        {
            Index = index, Count = spans.Length, FirstLayer = first, EndLayer = end, ModelConfigJson = cfg.ToJson(),
            TrainConfigJson = JsonSerializer.Serialize(tc, TrainConfig.Json), MicroBatches = micro, SeqLen = seqLen, Schedule = schedule,
            MaxMemory = maxMemory, Threads = threads, ExpertParallel = expertParallel, ExpertRange = range, RoutedExperts = cfg.NRoutedExperts,
        };
        return spans.Select(s => Plan(s.Index, s.FirstLayer, s.EndLayer, 0))
            .Concat(Enumerable.Range(1, expertParallel - 1).Select(r => Plan(spans.Length + r - 1, 0, cfg.NumHiddenLayers, r))).ToArray();
    }

    /// <summary>Checks --expert-parallel against the model: one error naming the flag.</summary>
    public static void CheckExpertParallel(int e, ModelConfig cfg)
    {
        if (e < 1) throw new SeekSharpException($"--expert-parallel: expected 1 or more, found {e}.");
        if (e == 1) return;
        if (cfg.NRoutedExperts == 0 || !Enumerable.Range(0, cfg.NumHiddenLayers).Any(cfg.IsMoeLayer))
            throw new SeekSharpException($"--expert-parallel: {e} expert processes for a dense model (no MoE layers); use 1.");
        if (cfg.NRoutedExperts % e != 0)
            throw new SeekSharpException($"--expert-parallel: {e} does not divide the {cfg.NRoutedExperts} routed experts into equal ranges.");
    }

    int Command(int stage, StageCommand cmd)
    {
        int n = commands[stage]++;
        link.Send(Boxes.Command(stage, n), Wire.Json(cmd));
        return n;
    }

    public StepOutcome Run(TokenBatchSampler train, int step, double lr)
    {
        train.Sample(Pretrainer.BatchSeed(tc.Seed, step, 0), tc.BatchSize, seqLen, inputs, targets);
        string tag = step.ToString();
        for (int k = 0; k < stages; k++) Command(k, new StageCommand("step", step, lr, rows));
        int n = rows * seqLen;
        for (int m = 0; m < micro; m++)
        {
            link.Send(Boxes.Input(tag, m), Wire.Longs(inputs.AsSpan(m * n, n)));
            link.Send(Boxes.Target(tag, m), Wire.Longs(targets.AsSpan(m * n, n)));
        }
        last = Enumerable.Range(0, stages).Select(k => Wire.Json<StageReport>(link.Receive(Boxes.Report(k, step)))).ToArray();
        for (int k = 0; k < stages; k++)
        {
            var p = peers.GetValueOrDefault(plans[k].ExpertRange > 0 ? $"experts {plans[k].ExpertRange}" : $"stage {k}") ?? new Ledger.LedgerNetworkPeer();
            // Seen from the driver, whose process relays every payload: what it sent the stage and received from it.
            peers[plans[k].ExpertRange > 0 ? $"experts {plans[k].ExpertRange}" : $"stage {k}"] = p with
            {
                BytesSent = p.BytesSent + last[k].BytesReceived, BytesReceived = p.BytesReceived + last[k].BytesSent, Rounds = p.Rounds + 1,
                Tokens = p.Tokens + TokensPerStep, InnerSteps = p.InnerSteps + 1, Seconds = p.Seconds + last[k].StepSeconds,
            };
        }
        double norm = Math.Sqrt(last.Sum(r => r.SumSq));
        // torch's clip_grad_norm_, as FlatParameters.ClipGradNorm.
        double coef = tc.GradClip > 0 ? Math.Min(1, tc.GradClip / (norm + 1e-6)) : 1;
        for (int k = 0; k < stages; k++) link.Send(Boxes.Clip(k, step), Wire.Json(new ClipMessage(coef)));
        var load = new Dictionary<int, double[]>();
        foreach (var r in last)
            foreach (var (layer, counts) in r.Load)
            {
                double sum = Math.Max(1, counts.Sum());
                load[layer] = counts.Select(c => c / sum).ToArray();
            }
        return new StepOutcome(last.Sum(r => r.Loss), last.Sum(r => r.Aux), norm, load, null);
    }

    /// <summary>Per step: the measured bubble (mean over stages of the time a stage waited for inputs and gradients over its
    /// step time), the schedule's (S-1)/(M+S-1), payload bytes the stages sent, and per stage its peak RSS, idle fraction and
    /// the most micro-batches whose activations it held at once.</summary>
    public IReadOnlyDictionary<string, double>? Extra(StepOutcome r, int step)
    {
        var d = new Dictionary<string, double>
        {
            ["pipeline_stages"] = pipeline,
            ["bubble"] = last.Take(pipeline).Average(s => s.IdleSeconds / Math.Max(s.StepSeconds, 1e-9)),
            ["bubble_theory"] = PipelinePlan.TheoreticalBubble(pipeline, micro),
            ["bytes_sent"] = last.Sum(s => s.BytesSent),
        };
        if (ranges > 1) ExpertMetrics(d);
        for (int k = 0; k < pipeline; k++)
        {
            d[$"stage{k}_peak_rss"] = last[k].PeakRss;
            d[$"stage{k}_idle"] = last[k].IdleSeconds / Math.Max(last[k].StepSeconds, 1e-9);
            d[$"stage{k}_max_live"] = last[k].MaxLive;
        }
        return d;
    }

    /// <summary>Expert parallelism per MoE layer: the share of routed (token, expert) pairs each range got (ep_layerL_loadR)
    /// and the bytes the layer's stage sent to and received from the expert processes (ep_layerL_sent, _received); per
    /// expert process its peak RSS.</summary>
    void ExpertMetrics(Dictionary<string, double> d)
    {
        d["expert_parallel"] = ranges;
        int per = Config.NRoutedExperts / ranges;
        foreach (var r in last.Take(pipeline))
        {
            foreach (var (layer, counts) in r.Load)
            {
                double sum = Math.Max(1, counts.Sum());
                for (int g = 0; g < ranges; g++) d[$"ep_layer{layer}_load{g}"] = counts.Skip(g * per).Take(per).Sum() / sum;
            }
            foreach (var (layer, b) in r.ExpertBytes)
            {
                d[$"ep_layer{layer}_sent"] = b[0];
                d[$"ep_layer{layer}_received"] = b[1];
            }
        }
        for (int k = pipeline; k < stages; k++) d[$"experts{plans[k].ExpertRange}_peak_rss"] = last[k].PeakRss;
    }

    /// <summary>The training steps' payload bytes per stage (evaluation and checkpoint transfers are not in them).</summary>
    public Ledger.LedgerNetwork? Network => new()
    {
        BytesSent = peers.Values.Sum(p => p.BytesSent), BytesReceived = peers.Values.Sum(p => p.BytesReceived),
        Rounds = peers.Values.Select(p => p.Rounds).DefaultIfEmpty().Max(), Peers = new(peers),
    };

    public double Evaluate(TokenBatchSampler val)
    {
        string tag = $"e{evals++}";
        var batches = val.Sequential(tc.BatchSize, seqLen, tc.EvalBatches).ToList();
        if (batches.Count == 0) return double.NaN;
        int batchRows = batches[0].inputs.Length / seqLen;
        for (int k = 0; k < stages; k++) Command(k, new StageCommand("eval", Rows: batchRows, Batches: batches.Count, Tag: tag));
        for (int i = 0; i < batches.Count; i++)
        {
            link.Send(Boxes.Input(tag, i), Wire.Longs(batches[i].inputs));
            link.Send(Boxes.Target(tag, i), Wire.Longs(batches[i].targets));
        }
        var r = Wire.Json<EvalReport>(link.Receive(Boxes.EvalReport(tag)));
        return r.Nats / Math.Max(1, r.Tokens);
    }

    /// <summary>Every stage's tensors and moments, gathered (the tied embedding comes from the first stage).</summary>
    (Dictionary<string, Tensor> Weights, Dictionary<string, Tensor> Moments, long Step) Gather()
    {
        var ids = Enumerable.Range(0, stages).Select(k => Command(k, new StageCommand("save"))).ToArray();
        var weights = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        var moments = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        long step = 0;
        for (int k = 0; k < stages; k++)
        {
            var (tensors, meta) = Wire.Unpack(link.Receive(Boxes.State(k, ids[k])));
            step = long.Parse(meta["step"]);
            foreach (var (name, t) in tensors)
            {
                var into = name.EndsWith(".exp_avg", StringComparison.Ordinal) || name.EndsWith(".exp_avg_sq", StringComparison.Ordinal) ? moments : weights;
                if (!into.TryAdd(name, t)) t.Dispose();
            }
        }
        return (weights, moments, step);
    }

    public string SaveCheckpoint(string runDir, TrainerState state, string tokenizerDir)
    {
        var (weights, moments, step) = Gather();
        try
        {
            return TrainingCheckpoint.Save(runDir, state, tmp => ModelFiles.Save(tmp, Config, weights, tokenizerDir, tc.MaxShardBytes), moments, step,
                moments.Count(kv => kv.Key.EndsWith(".exp_avg", StringComparison.Ordinal)));
        }
        finally { foreach (var t in weights.Values.Concat(moments.Values)) t.Dispose(); }
    }

    public void SaveModel(string dir)
    {
        var (weights, moments, _) = Gather();
        try { ModelFiles.Save(dir, Config, weights, maxShardBytes: tc.MaxShardBytes); }
        finally { foreach (var t in weights.Values.Concat(moments.Values)) t.Dispose(); }
    }

    /// <summary>Sends each stage its part of the checkpoint: the tensors its span holds and their moments.</summary>
    public TrainerState Restore(string checkpoint)
    {
        var state = TrainingCheckpoint.ReadState(checkpoint);
        var weights = ModelFiles.LoadTensors(checkpoint);
        var (moments, meta) = Safetensors.LoadWithMetadata(Path.Combine(checkpoint, TrainingCheckpoint.OptimizerFile));
        try
        {
            bool tied = Config.TieWordEmbeddings;
            foreach (var plan in plans)
            {
                var span = plan.Span;
                var part = new Dictionary<string, Tensor>(StringComparer.Ordinal);
                foreach (var (name, t) in weights)
                    if (span.Holds(name, tied))
                    {
                        part[name] = t;
                        foreach (var suffix in new[] { ".exp_avg", ".exp_avg_sq" })
                            if (moments.TryGetValue(name + suffix, out var mt)) part[name + suffix] = mt;
                    }
                int started = part.Keys.Count(k => k.EndsWith(".exp_avg", StringComparison.Ordinal));
                Command(span.Index, new StageCommand("load"));
                link.Send(Boxes.Load(span.Index), Wire.Pack(part, new Dictionary<string, string> { ["step"] = meta["step"], ["started"] = started.ToString() }));
            }
        }
        finally { foreach (var t in weights.Values.Concat(moments.Values)) t.Dispose(); }
        return state;
    }

    /// <summary>Tells every stage to stop (their Serve loops return).</summary>
    public void Stop()
    {
        for (int k = 0; k < stages; k++) Command(k, new StageCommand("stop"));
    }

    public void Dispose() { }
}
