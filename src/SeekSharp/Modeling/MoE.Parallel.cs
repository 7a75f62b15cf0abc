using TorchSharp;
using static TorchSharp.torch;

namespace SeekSharp.Modeling;

// Expert parallelism (decision 0028): the routed experts are cut into contiguous ranges of n_routed/E; range 0 runs here,
// the rows of every other range go to the process that holds it through an IExpertExchange, inside a custom autograd
// function (RemoteExpertsFunction), and their outputs come back into the padded layout at the same slots, so routing,
// shared experts and the combine are untouched. Only real rows cross the wire; the far side pads them as this side would
// and is told the global capacity, so its grouped GEMM has the local one's shapes (E = 1 and E = 2 agree to round-off).

/// <summary>How one remote range's rows are laid out: per expert of the range, its real rows and its padded rows; the
/// grouped path's capacity and whether it is taken (as the calling MoE decided for all experts).</summary>
public sealed record ExpertDispatch(long[] Counts, long[] Padded, long Capacity, bool Batched);

/// <summary>The calling side of expert parallelism: runs a range's experts elsewhere.</summary>
public interface IExpertExchange
{
    /// <summary>Outputs (R, D) of range <paramref name="range"/>'s experts on its real rows (R, D), sorted by expert. With
    /// <paramref name="keep"/> the far side keeps what its backward needs, under the returned id.</summary>
    (Tensor Output, long Id) Forward(int layer, int range, Tensor rows, ExpertDispatch dispatch, bool keep);

    /// <summary>The rows' gradient (R, D) from the outputs' (R, D) of forward <paramref name="id"/>; the far side
    /// accumulates its experts' weight gradients.</summary>
    Tensor Backward(int layer, int range, long id, Tensor gradOutput);
}

public sealed partial class MoE
{
    IExpertExchange? exchange;
    int ranges = 1, layer;

    /// <summary>Routes ranges 1..<paramref name="expertRanges"/>-1 of this layer's routed experts through
    /// <paramref name="via"/>; range 0 stays here.</summary>
    public void Distribute(int layerIndex, int expertRanges, IExpertExchange via)
    {
        if (expertRanges < 1 || nExperts % expertRanges != 0)
            throw new SeekSharpException($"--expert-parallel: {expertRanges} does not divide the {nExperts} routed experts into equal ranges.");
        (layer, ranges, exchange) = (layerIndex, expertRanges, via);
    }

    /// <summary>Experts [first, end) on <paramref name="grouped"/>, the padded rows of exactly those experts.</summary>
    Tensor RunExperts(Tensor grouped, long[] padded, long capacity, bool batched, int first, int end)
    {
        if (batched) return Batched(grouped, padded, capacity, first, end);
        var outs = new List<Tensor>(end - first);
        for (int e = first, at = 0; e < end; at += (int)padded[e], e++)
            if (padded[e] > 0) outs.Add(Expert(e, grouped.narrow(0, at, padded[e])));
        return cat(outs, 0);
    }

    /// <summary>The padded layout's rows of range 0 computed here, every other range's through the exchange.</summary>
    Tensor Distributed(Tensor grouped, long[] counts, long[] padded, long[] padStart, long capacity, bool batched)
    {
        using var scope = NewDisposeScope();
        int per = nExperts / ranges;
        long d = grouped.shape[1];
        var pieces = new List<Tensor>(ranges);
        for (int r = 0; r < ranges; r++)
        {
            int first = r * per, end = first + per;
            long rows = padded[first..end].Sum();
            if (rows == 0) continue;
            var block = grouped.narrow(0, padStart[first], rows);
            if (r == 0) { pieces.Add(RunExperts(block, padded, capacity, batched, first, end)); continue; }
            var real = RealRows(counts[first..end], padded[first..end], grouped.device);
            var dispatch = new ExpertDispatch(counts[first..end], padded[first..end], capacity, batched);
            // Back in the local experts' dtype (the wire is fp32), so the combine runs in the dtype it runs in with E = 1.
            var output = RemoteExpertsFunction.Run(block.index_select(0, real), exchange!, layer, r, dispatch).to_type(experts[0].ComputeType);
            pieces.Add(zeros([rows, d], dtype: output.dtype, device: output.device).index_copy(0, real, output));
        }
        return cat(pieces, 0).MoveToOuterDisposeScope();
    }

    /// <summary>Slots of the real rows within a range's padded block.</summary>
    static Tensor RealRows(long[] counts, long[] padded, Device device)
    {
        var idx = new List<long>((int)counts.Sum());
        long at = 0;
        for (int e = 0; e < counts.Length; at += padded[e], e++)
            for (long j = 0; j < counts[e]; j++) idx.Add(at + j);
        return tensor(idx.ToArray(), device: device);
    }

    /// <summary>The expert process's side: experts [first, first + counts.Length) on their real rows (R, D), padded on
    /// arrival as <paramref name="dispatch"/> says; returns their outputs (R, D).</summary>
    public Tensor RunRange(int first, Tensor rows, ExpertDispatch dispatch)
    {
        using var scope = NewDisposeScope();
        int end = first + dispatch.Counts.Length;
        var padded = new long[nExperts];
        Array.Copy(dispatch.Padded, 0, padded, first, dispatch.Counts.Length);
        long total = dispatch.Padded.Sum();
        var real = RealRows(dispatch.Counts, dispatch.Padded, rows.device);
        var block = zeros([total, rows.shape[1]], dtype: rows.dtype, device: rows.device).index_copy(0, real, rows);
        return RunExperts(block, padded, dispatch.Capacity, dispatch.Batched, first, end).index_select(0, real).MoveToOuterDisposeScope();
    }
}

/// <summary>The remote call as an autograd node: forward sends the rows and returns the outputs; backward sends the
/// outputs' gradient and returns the rows' (which flows on to the tokens and, through the combine weights, to the router).
/// Without gradients it is a plain call that keeps nothing on the far side.</summary>
internal sealed class RemoteExpertsFunction : autograd.SingleTensorFunction<RemoteExpertsFunction>
{
    public override string Name => "RemoteExperts";

    public static Tensor Run(Tensor rows, IExpertExchange exchange, int layer, int range, ExpertDispatch dispatch)
    {
        if (!is_grad_enabled() || !rows.requires_grad) return exchange.Forward(layer, range, rows, dispatch, keep: false).Output;
        return apply(rows, exchange, layer, range, dispatch);
    }

    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var (rows, exchange, layer, range) = ((Tensor)vars[0], (IExpertExchange)vars[1], (int)vars[2], (int)vars[3]);
        var (output, id) = exchange.Forward(layer, range, rows, (ExpertDispatch)vars[4], keep: true);
        ctx.save_data("exchange", exchange);
        ctx.save_data("layer", layer);
        ctx.save_data("range", range);
        ctx.save_data("id", id);
        return output;
    }

    // One gradient per argument of apply: the rows', then none for the exchange, layer, range and dispatch.
    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor dy) =>
        [((IExpertExchange)ctx.get_data("exchange")).Backward((int)ctx.get_data("layer"), (int)ctx.get_data("range"), (long)ctx.get_data("id"), dy), null!, null!, null!, null!];
}
