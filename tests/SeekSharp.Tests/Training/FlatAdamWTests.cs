using SeekSharp.Modeling;
using SeekSharp.Tests.Modeling;
using SeekSharp.Training;
using static TorchSharp.torch;
using Linear = SeekSharp.Modeling.Linear;
using Transformer = SeekSharp.Modeling.Transformer;

namespace SeekSharp.Tests.Training;

/// <summary>AdamW.Flat (flat buffers, one-pass update, bf16 working copies) against the per-tensor AdamW it replaces
/// in pretraining: the same gradients to the bit, the same loss curve within round-off, the same started set.</summary>
public class FlatAdamWTests
{
    static readonly TrainConfig Tc = new() { Steps = 10, BatchSize = 2, SeqLen = 16, Precision = "bf16", WarmupSteps = 0, WeightDecay = 0.1, GradClip = 1.0 };

    static (Transformer Model, AdamW Opt, TrainStep Step) Build(ModelConfig cfg, bool flat, TrainConfig tc)
    {
        var model = new Transformer(cfg, 7);
        model.SetComputeType(Transformer.ComputeTypeOf(tc.Precision));
        model.train();
        var opt = flat ? AdamW.Flat(model, tc) : new AdamW(model.named_parameters(), tc);
        return (model, opt, new TrainStep(model, opt, tc, tc.SeqLen, CPU));
    }

    static void Fill(TrainStep s, int step, int vocab)
    {
        var rng = new Random(step);
        for (int i = 0; i < s.Inputs.Length; i++) { s.Inputs[i] = rng.Next(vocab); s.Targets[i] = rng.Next(vocab); }
    }

    [Fact]
    public void TheMastersGetTheSameGradientsToTheBit()
    {
        var cfg = TestModels.Mla() with { MaxPositionEmbeddings = 16 };
        var (a, _, sa) = Build(cfg, false, Tc);
        var (b, ob, sb) = Build(cfg, true, Tc);
        using (a) using (b) using (ob)
        {
            foreach (var (model, step, flat) in new[] { (a, sa, false), (b, sb, true) })
                using (NewDisposeScope())
                {
                    Fill(step, 0, cfg.VocabSize);
                    var (logits, aux) = model.Forward(tensor(step.Inputs, [2, 16]));
                    var loss = nn.functional.cross_entropy(logits.view(-1, cfg.VocabSize), tensor(step.Targets));
                    (aux is null ? loss : loss + aux).backward();
                    if (flat) ob.Collect();
                }
            var pa = a.named_parameters().ToList();
            var pb = b.named_parameters().ToDictionary(p => p.name, p => p.parameter);
            foreach (var (name, p) in pa)
            {
                Assert.True(p.grad is not null, name);
                Assert.True(p.grad.allclose(pb[name].grad!, 0, 0), $"{name}: gradients differ");
            }
            Assert.True(b.modules().OfType<Linear>().All(l => l.Working is not null), "every Linear reads a working copy");
        }
    }

    [Fact]
    public void TenStepsFollowThePerTensorOptimizerAndTheWorkingCopiesStayCasts()
    {
        var cfg = TestModels.Mla() with { MaxPositionEmbeddings = 16 };
        var (a, oa, sa) = Build(cfg, false, Tc);
        var (b, ob, sb) = Build(cfg, true, Tc);
        using (a) using (oa) using (b) using (ob)
        {
            for (int step = 0; step < 10; step++)
            {
                var ra = sa.Run(1e-3, _ => Fill(sa, step, cfg.VocabSize));
                var rb = sb.Run(1e-3, _ => Fill(sb, step, cfg.VocabSize));
                Assert.True(Math.Abs(ra.Loss - rb.Loss) < 5e-4, $"step {step}: loss {ra.Loss:F5} vs flat {rb.Loss:F5}");
                Assert.True(Math.Abs(ra.GradNorm - rb.GradNorm) < 1e-3 * ra.GradNorm, $"step {step}: grad norm {ra.GradNorm} vs {rb.GradNorm}");
            }
            Assert.Equal(oa.StartedCount, ob.StartedCount);
            foreach (var l in b.modules().OfType<Linear>())
                Assert.True(l.Working!.allclose(l.weight.to_type(ScalarType.BFloat16), 0, 0), "the working copy is the master's bf16 cast");
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)] // the libtorch-ops pass that CUDA buffers take
    public void InFp32WithoutClippingTheWeightsMatchThePerTensorOnesWithinRoundOff(bool torchOps)
    {
        var cfg = TestModels.Mla() with { MaxPositionEmbeddings = 16 };
        var tc = Tc with { Precision = "fp32", GradClip = 0 };
        var (a, oa, sa) = Build(cfg, false, tc);
        var (b, ob, sb) = Build(cfg, true, tc);
        ob.FlatLayout!.ForceTorchOps = torchOps;
        using (a) using (oa) using (b) using (ob)
        {
            for (int step = 0; step < 3; step++)
            {
                sa.Run(1e-2, _ => Fill(sa, step, cfg.VocabSize));
                sb.Run(1e-2, _ => Fill(sb, step, cfg.VocabSize));
            }
            var pb = b.named_parameters().ToDictionary(p => p.name, p => p.parameter);
            foreach (var (name, p) in a.named_parameters())
                Assert.True(p.allclose(pb[name], 0, 1e-6), $"{name}: max diff {(p - pb[name]).abs().max().item<float>()}");
        }
    }

    [Fact]
    public void AnExpertNoTokenReachedIsLeftAloneAsBefore()
    {
        // One token per step and 8 experts, top-2: most experts see no token in the first steps.
        var cfg = TestModels.Mla() with { MaxPositionEmbeddings = 16, NRoutedExperts = 8, NumExpertsPerTok = 2 };
        var tc = Tc with { BatchSize = 1, SeqLen = 1 };
        var (a, oa, sa) = Build(cfg, false, tc);
        var (b, ob, sb) = Build(cfg, true, tc);
        using (a) using (oa) using (b) using (ob)
        {
            var before = b.named_parameters().ToDictionary(p => p.name, p => p.parameter.clone());
            for (int step = 0; step < 2; step++)
            {
                sa.Run(1e-2, _ => Fill(sa, step, cfg.VocabSize));
                sb.Run(1e-2, _ => Fill(sb, step, cfg.VocabSize));
            }
            Assert.True(ob.StartedCount < ob.Parameters.Count, "some parameter never had a gradient");
            Assert.Equal(oa.StartedCount, ob.StartedCount);
            var started = ob.StateTensors().Keys.Where(k => k.EndsWith(".exp_avg")).Select(k => k[..^".exp_avg".Length]).ToHashSet();
            Assert.Equal(oa.StateTensors().Keys.Order(), ob.StateTensors().Keys.Order());
            foreach (var (name, p) in b.named_parameters())
                if (!started.Contains(name)) Assert.True(p.allclose(before[name], 0, 0), $"{name} changed without a gradient");
        }
    }
}
