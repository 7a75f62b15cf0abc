using SeekSharp.Modeling;
using static TorchSharp.torch;

namespace SeekSharp.Tests.Modeling;

/// <summary>The expert-parallel cut inside MoE.Forward, with the far range run by another MoE of the same weights
/// through an in-memory exchange: output and every gradient (input, router, experts on both sides) equal E = 1's.</summary>
public class MoeParallelTests
{
    static ModelConfig Cfg() => TestModels.Mha(true) with
    {
        NRoutedExperts = 8, NumExpertsPerTok = 2, NSharedExperts = 1, FirstKDenseReplace = 0, NumHiddenLayers = 1,
    };

    /// <summary>The far side as an expert process does it: keeps the input leaf and output per call until the backward.</summary>
    sealed class Far(MoE moe) : IExpertExchange
    {
        readonly Dictionary<long, (Tensor X, Tensor Y)> live = [];
        public int Calls;

        // On another thread, as in an expert process: libtorch runs a custom Function's forward below the autograd
        // dispatch, where nothing records a graph.
        static T Elsewhere<T>(Func<T> f)
        {
            T? result = default;
            var t = new Thread(() => result = f());
            t.Start();
            t.Join();
            return result!;
        }

        public (Tensor Output, long Id) Forward(int layer, int range, Tensor rows, ExpertDispatch dispatch, bool keep)
        {
            long id = ++Calls;
            var copy = rows.detach().clone().DetachFromDisposeScope();
            var output = Elsewhere(() =>
            {
                var x = copy.requires_grad_(keep);
                var y = moe.RunRange(range * 4, x, dispatch);
                if (keep) live[id] = (x, y);
                return y.detach().clone();
            });
            return (output, id);
        }

        public Tensor Backward(int layer, int range, long id, Tensor gradOutput)
        {
            var (x, y) = live[id];
            live.Remove(id);
            var g = gradOutput.detach().clone().DetachFromDisposeScope();
            return Elsewhere(() =>
            {
                (y * g).sum().backward();
                return x.grad!.clone();
            });
        }
    }

    static MoE Make() { manual_seed(11); return new MoE(Cfg()); }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void TwoRangesGiveTheOneProcessOutputAndGradients(bool grouped)
    {
        using var whole = Make();
        using var near = Make();
        using var farMoe = Make();
        foreach (var m in new[] { whole, near, farMoe }) m.GroupedExperts = grouped;
        var far = new Far(farMoe);
        near.Distribute(0, 2, far);
        manual_seed(12);
        var x = randn(2, 40, 32);
        var xa = x.clone().requires_grad_(true);
        var xb = x.clone().requires_grad_(true);
        var (ya, _) = whole.Forward(xa);
        var (yb, _) = near.Forward(xb);
        Assert.Equal(1, far.Calls);
        Assert.Equal(grouped, near.LastBatched);
        Assert.True(yb.allclose(ya, rtol: 1e-5, atol: 1e-6));
        var g = randn(2, 40, 32);
        (ya * g).sum().backward();
        (yb * g).sum().backward();
        Assert.True(xb.grad!.allclose(xa.grad!, rtol: 1e-5, atol: 1e-6));
        var w = whole.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        foreach (var (name, p) in near.named_parameters().Concat(farMoe.named_parameters()))
        {
            if (p.grad is null) continue;   // the experts each side does not run
            Assert.True(p.grad.allclose(w[name].grad!, rtol: 1e-4, atol: 1e-6), name);
        }
        // Each side computed exactly its own range's experts.
        Assert.All(near.named_parameters().Where(p => p.name.StartsWith("experts.") && int.Parse(p.name.Split('.')[1]) >= 4), p => Assert.Null(p.parameter.grad));
        Assert.All(farMoe.named_parameters().Where(p => !(p.name.StartsWith("experts.") && int.Parse(p.name.Split('.')[1]) >= 4)), p => Assert.Null(p.parameter.grad));
        Assert.Throws<SeekSharpException>(() => whole.Distribute(0, 3, far));
    }
}
