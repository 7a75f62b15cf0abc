using SeekSharp.Modeling;
using static TorchSharp.torch;

namespace SeekSharp.Tests.Modeling;

public class MoeTests
{
    static ModelConfig Cfg(int experts = 8, int k = 2) => TestModels.Mha(true) with
    {
        NRoutedExperts = experts, NumExpertsPerTok = k, NSharedExperts = 0, FirstKDenseReplace = 0, NumHiddenLayers = 1,
    };

    [Fact]
    public void EachTokenGoesToTopKDistinctExpertsWithNormalizedWeights()
    {
        manual_seed(0);
        using var gate = new Gate(Cfg());
        using var scope = NewDisposeScope();
        var x = randn(40, 32);
        var (idx, w, _, counts) = gate.Route(x, 40);
        Assert.Equal([40L, 2], idx.shape);
        var rows = idx.data<long>().ToArray();
        for (int i = 0; i < 40; i++) Assert.NotEqual(rows[2 * i], rows[2 * i + 1]);
        Assert.True(w.sum(-1).allclose(ones(40), atol: 1e-5));
        Assert.Equal(80L, gate.Load.Sum());
        Assert.Equal(gate.Load, counts);
    }

    [Fact]
    public void MoeOutputEqualsExplicitPerTokenMixture()
    {
        manual_seed(2);
        using var moe = new MoE(Cfg(4, 2));
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var x = randn(1, 6, 32);
        var (y, _) = moe.Forward(x);
        var (idx, w, _, _) = moe.Gate.Route(x.view(6, 32), 6);
        var experts = moe.named_children().First(c => c.name == "experts").module;
        for (int t = 0; t < 6; t++)
        {
            var expected = zeros(32);
            for (int j = 0; j < 2; j++)
            {
                var e = (int)idx[t, j].item<long>();
                var mlp = (Mlp)experts.named_children().ElementAt(e).module;
                expected += mlp.forward(x[0, t].unsqueeze(0)).squeeze(0) * w[t, j];
            }
            Assert.True(y[0, t].allclose(expected, atol: 1e-5), $"token {t}");
        }
    }

    [Theory]
    [InlineData(ScalarType.Float32)]
    [InlineData(ScalarType.BFloat16)]
    public void BatchedExpertsMatchTheLoopInOutputAndGradients(ScalarType dtype)
    {
        manual_seed(3);
        using var moe = new MoE(Cfg(8, 2) with { NSharedExperts = 1 });
        foreach (var l in moe.modules().OfType<Linear>()) l.ComputeType = dtype;
        var x = randn(2, 40, 32);
        (Tensor Y, Tensor Dx, Dictionary<string, Tensor> Grads) Run(bool batched)
        {
            moe.GroupedExperts = batched;
            moe.zero_grad();
            var xi = x.clone().requires_grad_(true);
            var (y, aux) = moe.Forward(xi);
            (y.to_type(ScalarType.Float32).square().sum() + aux!).backward();
            Assert.Equal(batched, moe.LastBatched);
            return (y.detach().to_type(ScalarType.Float32), xi.grad!.clone(),
                moe.named_parameters().Where(p => p.parameter.grad is not null).ToDictionary(p => p.name, p => p.parameter.grad!.clone()));
        }
        var loop = Run(false);
        var batched = Run(true);
        double tol = dtype == ScalarType.Float32 ? 1e-5 : 2e-2;
        Assert.True(loop.Y.allclose(batched.Y, rtol: tol, atol: tol), "outputs differ");
        Assert.True(loop.Dx.allclose(batched.Dx, rtol: tol, atol: tol), "input gradients differ");
        Assert.Equal(loop.Grads.Keys.Order(), batched.Grads.Keys.Order());
        foreach (var (name, g) in loop.Grads)
            Assert.True(g.allclose(batched.Grads[name], rtol: tol, atol: tol * g.abs().max().item<float>()), $"{name}: gradients differ");
    }

    [Fact]
    public void AStepWithOneBusyExpertRunsTheLoop()
    {
        manual_seed(4);
        using var moe = new MoE(Cfg(8, 2));
        using var scope = NewDisposeScope();
        var u = ones(32) / Math.Sqrt(32);
        using (no_grad()) { moe.Gate.weight.copy_(randn(8, 32) * 0.1); moe.Gate.weight[0].copy_(u * 5); }
        // Every token picks expert 0; padding the other seven to its 400 rows would be past MaxGroupedPadding.
        var (_, _, _, counts) = moe.Gate.Route(randn(400, 32) * 0.5 + u * 3, 400);
        Assert.Equal(400, counts[0]);
        moe.Forward((randn(400, 32) * 0.5 + u * 3).view(1, 400, 32));
        Assert.False(moe.LastBatched);
        using (no_grad()) moe.Gate.weight.copy_(randn(8, 32) * 0.1);
        moe.Forward(randn(1, 400, 32));
        Assert.True(moe.LastBatched, "a balanced step is batched");
    }

    [Fact]
    public void BiasUpdatesMoveLoadTowardUniform()
    {
        manual_seed(5);
        using var gate = new Gate(Cfg(8, 2));
        using var scope = NewDisposeScope();
        using (no_grad()) gate.weight.copy_(randn(8, 32) * 0.3);
        // A skewed input distribution: every token leans toward the same direction, so a few experts win.
        var x = randn(512, 32) + randn(1, 32) * 1.5;
        double Imbalance()
        {
            using var _ = no_grad();
            gate.ResetLoad();
            using (enable_grad()) gate.Route(x, 512);
            var load = gate.Load;
            return load.Max() / load.Average();
        }
        double before = Imbalance();
        for (int step = 0; step < 300; step++)
        {
            using (enable_grad()) gate.Route(x, 512);
            gate.UpdateBias(0.01);
        }
        double after = Imbalance();
        Assert.True(before > 1.8, $"test input should start skewed (max/mean {before:F2})");
        Assert.True(after < 1.5 && after < before / 2, $"max/mean load {before:F2} -> {after:F2}");
        Assert.NotEqual(0f, gate.Bias.Select(Math.Abs).Max());
    }

    [Fact]
    public void SequenceBalanceLossIsSmallestWhenUniform()
    {
        var cfg = Cfg(4, 1) with { AuxLossAlpha = 1.0 };
        using var gate = new Gate(cfg);
        using var scope = NewDisposeScope();
        using (no_grad()) gate.weight.copy_(eye(4, 32) * 10);
        // Tokens aligned with one expert each: uniform when spread over 4, collapsed when all alike.
        var spread = eye(4, 32).repeat(4, 1);
        var collapsed = eye(4, 32)[0].unsqueeze(0).repeat(16, 1);
        var (_, _, a1, _) = gate.Route(spread, 16);
        var (_, _, a2, _) = gate.Route(collapsed, 16);
        Assert.True(a1!.item<float>() < a2!.item<float>());
    }
}
