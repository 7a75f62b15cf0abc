using SeekSharp.Compression;
using SeekSharp.Modeling;
using SeekSharp.Training;
using static TorchSharp.torch;
using Linear = SeekSharp.Modeling.Linear;

namespace SeekSharp.Tests.Modeling;

// A Linear with Fp8 set: its forward and both backward products must be the products of quantized operands, each
// tiled along its own contraction dimension, computed here by hand in double from the scalar codec.
public class Fp8LinearTests
{
    /// <summary>The scalar codec's quantize-dequantize of a (rows, cols) array, one scale per tileRows x tileCols.</summary>
    static double[,] Q(float[,] x, int tileRows, int tileCols)
    {
        int rows = x.GetLength(0), cols = x.GetLength(1);
        var y = new double[rows, cols];
        for (int r0 = 0; r0 < rows; r0 += tileRows)
            for (int c0 = 0; c0 < cols; c0 += tileCols)
            {
                int r1 = Math.Min(rows, r0 + tileRows), c1 = Math.Min(cols, c0 + tileCols);
                float amax = 0;
                for (int r = r0; r < r1; r++) for (int c = c0; c < c1; c++) amax = Math.Max(amax, Math.Abs(x[r, c]));
                float s = amax > 0 ? amax / 448f : 1f;
                for (int r = r0; r < r1; r++) for (int c = c0; c < c1; c++) y[r, c] = Fp8E4M3.Decode(Fp8E4M3.Encode(x[r, c] / s)) * s;
            }
        return y;
    }

    static double[,] MatMul(double[,] a, double[,] b, bool transA = false, bool transB = false)
    {
        int m = transA ? a.GetLength(1) : a.GetLength(0), k = transA ? a.GetLength(0) : a.GetLength(1), n = transB ? b.GetLength(0) : b.GetLength(1);
        var c = new double[m, n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double sum = 0;
                for (int p = 0; p < k; p++) sum += (transA ? a[p, i] : a[i, p]) * (transB ? b[j, p] : b[p, j]);
                c[i, j] = sum;
            }
        return c;
    }

    static float[,] Array2(Tensor t, int rows, int cols)
    {
        using var f = t.detach().to_type(ScalarType.Float32).reshape(rows, cols).contiguous();
        var flat = f.data<float>().ToArray();
        var a = new float[rows, cols];
        for (int i = 0; i < rows; i++) for (int j = 0; j < cols; j++) a[i, j] = flat[i * cols + j];
        return a;
    }

    /// <summary>Largest |got − want| relative to the largest |want|.</summary>
    static double RelErr(float[,] got, double[,] want)
    {
        double err = 0, scale = 0;
        for (int i = 0; i < want.GetLength(0); i++)
            for (int j = 0; j < want.GetLength(1); j++) { err = Math.Max(err, Math.Abs(got[i, j] - want[i, j])); scale = Math.Max(scale, Math.Abs(want[i, j])); }
        return err / scale;
    }

    /// <summary>Ragged sizes on purpose (K = 200, N = 260, M = 2 x 150 = 300 tokens): every tiling has a partial tile.</summary>
    [Fact]
    public void FpropDgradAndWgradSeeTileQuantizedOperands()
    {
        const int b = 2, t = 150, k = 200, n = 260, m = b * t;
        using var scope = NewDisposeScope();
        manual_seed(11);
        using var linear = new Linear(k, n);
        linear.Fp8 = true;                                 // fp32 ComputeType: the matmuls add no rounding of their own
        var x = (randn(b, t, k) * exp(randn(b, t, 1))).requires_grad_(true);   // rows of very different scales
        var g = randn(b, t, n) * exp(randn(1, t, 1));                      // the incoming gradient dy = g
        var y = linear.forward(x);
        (y * g).sum().backward();

        var xa = Array2(x, m, k); var wa = Array2(linear.weight, n, k); var ga = Array2(g, m, n);
        var yWant = MatMul(Q(xa, 1, 128), Q(wa, 128, 128), transB: true);             // Q1x128(x) Q128x128(W)ᵀ
        var dxWant = MatMul(Q(ga, 1, 128), Q(wa, 128, 128));                          // Q1x128(dy) Q128x128(W)
        var dwWant = MatMul(Q(ga, 128, 1), Q(xa, 128, 1), transA: true);              // Q128x1(dy)ᵀ Q128x1(x)
        Assert.True(RelErr(Array2(y, m, n), yWant) < 1e-5, $"Fprop: {RelErr(Array2(y, m, n), yWant):E2}");
        Assert.True(RelErr(Array2(x.grad!, m, k), dxWant) < 1e-5, $"Dgrad: {RelErr(Array2(x.grad!, m, k), dxWant):E2}");
        Assert.True(RelErr(Array2(linear.weight.grad!, n, k), dwWant) < 1e-5, $"Wgrad: {RelErr(Array2(linear.weight.grad!, n, k), dwWant):E2}");

        // And they are not the plain products: the quantization is large enough to see (an E4M3 step is 2^-3 relative),
        // so a path that skipped any of the three quantizations would miss the references above by far more than 1e-5.
        var dxPlain = MatMul(ToDouble(ga), ToDouble(wa));
        Assert.True(RelErr(Array2(x.grad!, m, k), dxPlain) > 1e-3);
        var dxUnquantizedDy = MatMul(ToDouble(ga), Q(wa, 128, 128));
        Assert.True(RelErr(Array2(x.grad!, m, k), dxUnquantizedDy) > 1e-3, "Dgrad must quantize dy, not only the weight");
        var dwRowTiles = MatMul(Q(ga, 1, 128), Q(xa, 1, 128), transA: true);           // Fprop's tiling reused for Wgrad
        Assert.True(RelErr(Array2(linear.weight.grad!, n, k), dwRowTiles) > 1e-3, "Wgrad must tile along the tokens");
    }

    static double[,] ToDouble(float[,] a)
    {
        var d = new double[a.GetLength(0), a.GetLength(1)];
        for (int i = 0; i < a.GetLength(0); i++) for (int j = 0; j < a.GetLength(1); j++) d[i, j] = a[i, j];
        return d;
    }

    [Fact]
    public void WithoutGradientsTheForwardIsTheSameFprop()
    {
        using var scope = NewDisposeScope();
        manual_seed(12);
        using var linear = new Linear(130, 70) { Fp8 = true };
        var x = randn(5, 130);
        var withGraph = linear.forward(x.requires_grad_(true)).detach();
        Tensor plain;
        using (no_grad()) plain = linear.forward(x);
        Assert.True(withGraph.eq(plain).all().item<bool>());
        linear.Fp8 = false;
        using (no_grad()) Assert.False(linear.forward(x).eq(plain).all().item<bool>());
    }

    [Fact]
    public void Fp8PrecisionMarksEveryBlockProjectionButTheHead()
    {
        using var model = new Transformer(TestModels.Mla() with { TieWordEmbeddings = false }, 1);
        TrainingPrecision.Apply(model, "fp8");
        var linears = model.named_modules().Where(p => p.module is Linear).ToList();
        Assert.Contains(linears, p => p.name == "lm_head");
        foreach (var (name, module) in linears) Assert.Equal(name != "lm_head", ((Linear)module).Fp8);
        Assert.Equal(ScalarType.BFloat16, model.ComputeType);
        TrainingPrecision.Apply(model, "bf16");
        Assert.Equal(0, TrainingPrecision.Fp8Count(model));
    }

    /// <summary>MoE under fp8 runs its experts one by one (each Linear quantizes its own blocks and tokens) and
    /// still trains every expert that got tokens.</summary>
    [Fact]
    public void MoeExpertsTakeTheLoopAndGetGradients()
    {
        using var scope = NewDisposeScope();
        using var model = new Transformer(TestModels.Mla(), 3);
        TrainingPrecision.Apply(model, "fp8");
        model.train();
        var ids = randint(0, 64, [2, 16]);
        var (logits, aux) = model.Forward(ids);
        (aux is null ? logits.sum() : logits.sum() + aux).backward();
        var moe = model.MoeLayers[0].Moe;
        Assert.False(moe.LastBatched);
        Assert.All(model.named_parameters().Where(p => p.name.Contains("shared_experts") || p.name.Contains("self_attn")),
            p => Assert.True(p.parameter.grad is { } gr && gr.abs().sum().item<float>() > 0, p.name));
    }
}
