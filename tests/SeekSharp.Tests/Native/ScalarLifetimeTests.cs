using SeekSharp.Inference;
using SeekSharp.Modeling;
using SeekSharp.Native;
using SeekSharp.Reasoning;
using SeekSharp.Tests.Modeling;
using SeekSharp.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace SeekSharp.Tests.Native;

public class ScalarLifetimeTests
{
    [Fact]
    public void Cached_scalars_keep_their_type_and_identity()
    {
        Assert.Same(Scalars.Of(2.5), Scalars.Of(2.5));
        Assert.Equal(ScalarType.Float64, Scalars.Of(2.0).Type);
        Assert.Equal(ScalarType.Int64, Scalars.Of(2).Type);
        using var ids = tensor(new long[] { 7, 8, 9 });
        using var halved = ids.div(Scalars.Of(2), rounding_mode: RoundingMode.floor);
        Assert.Equal(ScalarType.Int64, halved.dtype);   // an integer Scalar keeps integer tensors integer
        Assert.Equal(new long[] { 3, 4, 4 }, halved.data<long>().ToArray());
    }

    // A number passed where an op takes a Scalar becomes a native Scalar that a finalizer may free while the op
    // still reads it (Native/Scalars.cs). With collections forced from another thread, the implicit form failed
    // here within a second ("INTERNAL ASSERT FAILED at c10/core/Scalar.h", or a crash). The model's forward with
    // MLA, MoE and per-row masks, its backward, AdamW and the GRPO loss must survive the same pressure.
    [Fact]
    public void Training_and_sampling_survive_collections_during_native_calls()
    {
        using var model = new Transformer(TestModels.Mla(moe: true), seed: 3);
        using var optimizer = new AdamW(model.named_parameters(), new TrainConfig { WeightDecay = 0.1 });
        var grpo = new GrpoConfig { Epsilon = 0.2, EpsilonHigh = 0.28, Beta = 0.1, MaxTokens = 4 };
        using var ids = randint(0, 64, [2, 16], dtype: ScalarType.Int64);
        int[][] prompts = [[1, 5, 9], [4, 8, 12, 16, 20]];
        bool stop = false;
        var collector = new Thread(() => { while (!Volatile.Read(ref stop)) { GC.Collect(); GC.WaitForPendingFinalizers(); } });
        collector.Start();
        try
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            for (int i = 0; clock.Elapsed.TotalSeconds < 5 || i < 20; i++)
            {
                using (var scope = NewDisposeScope())
                {
                    model.train();
                    var (logits, aux) = model.Forward(ids);
                    var loss = nn.functional.cross_entropy(logits.view(-1, 64), ids.flatten());
                    (aux is null ? loss : loss.add(aux, Scalars.One)).backward();
                    optimizer.Update(1e-3);
                    optimizer.ZeroGrad();
                    var logp = randn(2, 4).log_softmax(-1);
                    GrpoLoss.Compute(logp, logp.add(Scalars.Of(0.1), Scalars.One), logp - Scalars.Of(0.1), tensor(new float[] { 1, -1 }), ones(2, 4), grpo, 2).Loss.item<float>();
                }
                model.eval();
                new GroupGenerator(model, maxRows: 8).Generate(prompts, 2, 4, new SamplingOptions(1.0, 1.0), seed: i, stopId: 3);
            }
        }
        finally
        {
            Volatile.Write(ref stop, true);
            collector.Join();
        }
    }
}
