using SeekSharp.Distillation;
using SeekSharp.Training;
using static TorchSharp.torch;

namespace SeekSharp.Tests.Distillation;

public class KdTests : TempDirTest
{
    static readonly TopKCacheKey Key = new(4, 2f, 10, "0123456789abcdef", "fedcba9876543210", "tokhash");

    static void Fill(long r, Span<Half> v, Span<int> ids)
    {
        for (int j = 0; j < v.Length; j++) { v[j] = (Half)(3.25f - j - 0.5f * r); ids[j] = (int)((r + j * 3) % 10); }
    }

    [Fact]
    public void The_cache_round_trips_and_has_the_documented_size()
    {
        var path = Path.Combine(NewDir(), "kd.bin");
        TopKCache.Write(path, Key, 3, Fill);
        Assert.Equal(96 + 3 * 4 * (2 + 4), new FileInfo(path).Length);
        using var c = TopKCache.Open(path, Key);
        Assert.Equal(3, c.Positions);
        var (v, ids) = c.Rows([2, 0]);
        using (v) using (ids)
        {
            Assert.Equal([2.25f, 1.25f, 0.25f, -0.75f, 3.25f, 2.25f, 1.25f, 0.25f], v.data<float>().ToArray());
            Assert.Equal([2L, 5, 8, 1, 0, 3, 6, 9], ids.data<long>().ToArray());
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => c.Rows([3]));
    }

    [Theory]
    [InlineData("teacher hash")]
    [InlineData("dataset hash")]
    [InlineData("k")]
    [InlineData("tau")]
    public void A_cache_made_for_something_else_is_refused_naming_the_file_and_field(string field)
    {
        var path = Path.Combine(NewDir(), "kd.bin");
        TopKCache.Write(path, Key, 2, Fill);
        var other = field switch
        {
            "teacher hash" => Key with { TeacherHash = "aaaaaaaaaaaaaaaa" },
            "dataset hash" => Key with { DatasetHash = "bbbbbbbbbbbbbbbb" },
            "k" => Key with { K = 8 },
            _ => Key with { Tau = 1f },
        };
        var e = Assert.Throws<SeekSharpException>(() => TopKCache.Open(path, other));
        Assert.StartsWith(path + ": header " + field + " is", e.Message);
    }

    [Fact]
    public void A_truncated_or_foreign_cache_is_refused_and_a_failed_write_keeps_the_old_one()
    {
        var path = Path.Combine(NewDir(), "kd.bin");
        TopKCache.Write(path, Key, 2, Fill);
        var good = File.ReadAllBytes(path);
        Assert.ThrowsAny<Exception>(() => TopKCache.Write(path, Key, 2, (r, v, i) => throw new IOException("disk full")));
        Assert.Equal(good, File.ReadAllBytes(path));
        Assert.Single(Directory.GetFiles(Path.GetDirectoryName(path)!));

        File.WriteAllBytes(path, good[..^3]);
        Assert.Contains("truncated", Assert.Throws<SeekSharpException>(() => TopKCache.Open(path, Key)).Message);
        File.WriteAllBytes(path, new byte[200]);
        Assert.Contains("not a teacher cache", Assert.Throws<SeekSharpException>(() => TopKCache.Open(path, Key)).Message);
    }

    static double[] Softmax(double[] z, double t)
    {
        var m = z.Max();
        var e = z.Select(x => Math.Exp((x - m) / t)).ToArray();
        var s = e.Sum();
        return e.Select(x => x / s).ToArray();
    }

    [Fact]
    public void The_loss_is_the_hand_computed_kl_and_ce_mix_and_its_gradient_is_right()
    {
        const double tau = 2.0, alpha = 0.3;
        double[][] z = [[1.0, -0.5, 2.0, 0.25], [0.0, 0.0, 0.0, 0.0], [-1.0, 0.5, 0.75, 3.0]]; // row 1 has no target
        long[] target = [2, LmLoss.Ignore, 1];
        double[][] tv = [[4.0, 1.0], [2.0, 1.5]];
        long[][] tid = [[2, 0], [3, 1]];

        double expected = 0;
        var grad = new double[3][];
        for (int r = 0, n = 0; r < 3; r++)
        {
            grad[r] = new double[4];
            if (target[r] == LmLoss.Ignore) continue;
            var q1 = Softmax(z[r], 1);
            var qt = Softmax(z[r], tau);
            var p = Softmax(tv[n], tau);
            double ce = -Math.Log(q1[target[r]]);
            double kl = 0;
            for (int j = 0; j < 2; j++) kl += p[j] * (Math.Log(p[j]) - Math.Log(qt[tid[n][j]]));
            expected += alpha * ce + (1 - alpha) * tau * tau * kl;
            // d/dz: alpha (softmax(z) - onehot) + (1 - alpha) tau (softmax(z/tau) - p scattered to its ids), since sum p = 1.
            for (int v = 0; v < 4; v++) grad[r][v] = alpha * (q1[v] - (v == target[r] ? 1 : 0)) + (1 - alpha) * tau * qt[v];
            for (int j = 0; j < 2; j++) grad[r][tid[n][j]] -= (1 - alpha) * tau * p[j];
            n++;
        }

        using var scope = NewDisposeScope();
        var logits = tensor(z.SelectMany(x => x).Select(x => (float)x).ToArray(), [1, 3, 4]).requires_grad_();
        var loss = KdLoss.Sum(logits, tensor(target), tensor(tv.SelectMany(x => x).Select(x => (float)x).ToArray(), [2, 2]),
            tensor(tid.SelectMany(x => x).ToArray(), [2, 2]), tau, alpha);
        Assert.Equal(expected, loss.item<float>(), 5);
        loss.backward();
        var g = logits.grad!.data<float>().ToArray();
        var want = grad.SelectMany(x => x).ToArray();
        for (int i = 0; i < want.Length; i++) Assert.Equal(want[i], g[i], 5);

        // alpha 1 is plain cross-entropy: the distillation term really is what changes the loss.
        using var ce1 = KdLoss.Sum(logits, tensor(target), tensor(new float[] { 4, 1, 2, 1.5f }, [2, 2]), tensor(new long[] { 2, 0, 3, 1 }, [2, 2]), tau, 1.0);
        Assert.Equal(LmLoss.Sum(logits, tensor(target)).item<float>(), ce1.item<float>(), 5);
        Assert.Throws<SeekSharpException>(() => KdLoss.Sum(logits, tensor(target), tensor(new float[] { 1, 2 }, [1, 2]), tensor(new long[] { 0, 1 }, [1, 2]), tau, alpha));
    }
}
